package hardware

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

var (
	kernel32 = windows.NewLazySystemDLL("kernel32.dll")

	procGetSystemFirmwareTable             = kernel32.NewProc("GetSystemFirmwareTable")
	procGetPhysicallyInstalledSystemMemory = kernel32.NewProc("GetPhysicallyInstalledSystemMemory")
	procGlobalMemoryStatusEx               = kernel32.NewProc("GlobalMemoryStatusEx")
)

// collect reads the components through Win32 calls and the registry,
// without cgo, WMI or administrator rights. The calls are local and quick
// and cannot be cancelled; ctx is checked between components.
func collect(ctx context.Context) (Raw, error) {
	var r Raw
	err := runSteps(ctx, []step{
		{"smbios", func() error {
			info, err := readSMBIOS()
			r.SystemUUID, r.BoardSerial = info.systemUUID, info.boardSerial
			return err
		}},
		{"disks", func() (err error) {
			r.Disks, err = physicalDiskSerials()
			return err
		}},
		{"network cards", func() (err error) {
			r.MACs, err = physicalMACs()
			return err
		}},
		{"cpu", func() (err error) {
			r.CPU, err = cpuIdentity()
			return err
		}},
		{"memory", func() (err error) {
			r.MemoryGB, err = memoryGB()
			return err
		}},
		{"os install id", func() (err error) {
			r.OSInstallID, err = machineGUID()
			return err
		}},
	})
	return r, err
}

// callProc calls a kernel32 function, returning an error instead of
// panicking when the function does not exist.
func callProc(p *windows.LazyProc, args ...uintptr) (uintptr, error) {
	if err := p.Find(); err != nil {
		return 0, err
	}
	r, _, err := p.Call(args...)
	return r, err
}

// rsmb is the 'RSMB' firmware table provider: the raw SMBIOS table.
const rsmb = 'R'<<24 | 'S'<<16 | 'M'<<8 | 'B'

// readSMBIOS reads the SMBIOS table, which any user may read.
func readSMBIOS() (smbiosInfo, error) {
	n, err := callProc(procGetSystemFirmwareTable, rsmb, 0, 0, 0)
	if n == 0 {
		return smbiosInfo{}, fmt.Errorf("get firmware table size: %w", err)
	}
	buf := make([]byte, n)
	m, err := callProc(procGetSystemFirmwareTable, rsmb, 0, uintptr(unsafe.Pointer(&buf[0])), n)
	if m == 0 || m > n {
		return smbiosInfo{}, fmt.Errorf("get firmware table: %w", err)
	}
	return parseRSMB(buf[:m])
}

// maxPhysicalDrives bounds the \\.\PhysicalDriveN names tried; numbers
// may have gaps after disks are removed.
const maxPhysicalDrives = 32

// physicalDiskSerials returns the serials of fixed physical disks, read
// with IOCTL_STORAGE_QUERY_PROPERTY, which needs no administrator rights
// (the disk is opened without read or write access).
func physicalDiskSerials() ([]string, error) {
	var out []string
	var errs []error
	for i := range maxPhysicalDrives {
		d, err := queryPhysicalDrive(i)
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d.physical() && d.serial != "" {
			out = append(out, d.serial)
		}
	}
	if len(out) == 0 {
		errs = append(errs, errNone)
	}
	return out, errors.Join(errs...)
}

// ioctlStorageQueryProperty is IOCTL_STORAGE_QUERY_PROPERTY:
// CTL_CODE(IOCTL_STORAGE_BASE, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS).
const ioctlStorageQueryProperty = 0x002D1400

// storagePropertyQuery is STORAGE_PROPERTY_QUERY; the zero value asks for
// the StorageDeviceProperty with PropertyStandardQuery.
type storagePropertyQuery struct {
	propertyID           uint32
	queryType            uint32
	additionalParameters [1]byte
}

func queryPhysicalDrive(i int) (storageDevice, error) {
	name := fmt.Sprintf(`\\.\PhysicalDrive%d`, i)
	path, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return storageDevice{}, err
	}
	h, err := windows.CreateFile(path, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return storageDevice{}, fmt.Errorf("open %s: %w", name, err)
	}
	defer windows.CloseHandle(h)

	buf, err := storageQuery(h, 1024)
	// A short buffer gets a truncated descriptor whose Size says how much
	// is needed.
	if err == nil && len(buf) >= 8 {
		if size := binary.LittleEndian.Uint32(buf[4:8]); int(size) > len(buf) && size <= 64*1024 {
			buf, err = storageQuery(h, int(size))
		}
	}
	if err != nil {
		return storageDevice{}, fmt.Errorf("query %s: %w", name, err)
	}
	d, err := parseStorageDescriptor(buf)
	if err != nil {
		return storageDevice{}, fmt.Errorf("query %s: %w", name, err)
	}
	return d, nil
}

// storageQuery returns the STORAGE_DEVICE_DESCRIPTOR of an open disk, in
// a buffer of at most size bytes.
func storageQuery(h windows.Handle, size int) ([]byte, error) {
	var query storagePropertyQuery
	buf := make([]byte, size)
	var n uint32
	err := windows.DeviceIoControl(h, ioctlStorageQueryProperty,
		(*byte)(unsafe.Pointer(&query)), uint32(unsafe.Sizeof(query)),
		&buf[0], uint32(len(buf)), &n, nil)
	if err != nil {
		return nil, err
	}
	return buf[:min(int(n), len(buf))], nil
}

// physicalMACs returns the addresses of physical Ethernet and Wi-Fi
// cards, as physicalIfRow selects them from GetIfTable2. The permanent
// (burnt-in) address is used, so that Wi-Fi "random hardware addresses"
// and user overrides do not change it.
func physicalMACs() ([]string, error) {
	var table *windows.MibIfTable2
	if err := windows.GetIfTable2Ex(windows.MibIfTableNormal, &table); err != nil {
		return nil, fmt.Errorf("get interface table: %w", err)
	}
	defer windows.FreeMibTable(unsafe.Pointer(table))
	var out []string
	for _, row := range unsafe.Slice(&table.Table[0], table.NumEntries) {
		if !physicalIfRow(row.Type, row.InterfaceAndOperStatusFlags) {
			continue
		}
		n := min(int(row.PhysicalAddressLength), len(row.PhysicalAddress))
		perm := net.HardwareAddr(row.PermanentPhysicalAddress[:n]).String()
		cur := net.HardwareAddr(row.PhysicalAddress[:n]).String()
		if m := chooseMAC(perm, cur, false); m != "" {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, errNone
	}
	return out, nil
}

// cpuIdentity reads the first processor's vendor, brand string and
// family/model/stepping from the registry.
func cpuIdentity() (string, error) {
	const path = `HARDWARE\DESCRIPTION\System\CentralProcessor\0`
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE)
	if err != nil {
		return "", fmt.Errorf("open HKLM\\%s: %w", path, err)
	}
	defer k.Close()
	name, _, nameErr := k.GetStringValue("ProcessorNameString")
	vendor, _, _ := k.GetStringValue("VendorIdentifier")
	ident, _, _ := k.GetStringValue("Identifier")
	family, model, stepping := parseCPUIdentifier(ident)
	s := cpuID{vendor: vendor, name: name, family: family, model: model, stepping: stepping}.String()
	if s == "" {
		return "", fmt.Errorf("read HKLM\\%s: %w", path, nameErr)
	}
	return s, nil
}

// memoryStatusEx is MEMORYSTATUSEX.
type memoryStatusEx struct {
	length               uint32
	memoryLoad           uint32
	totalPhys            uint64
	availPhys            uint64
	totalPageFile        uint64
	availPageFile        uint64
	totalVirtual         uint64
	availVirtual         uint64
	availExtendedVirtual uint64
}

// memoryGB returns the installed memory as the firmware reports it or,
// when the firmware does not (some VMs), the memory Windows manages.
func memoryGB() (float64, error) {
	var kb uint64
	if ok, _ := callProc(procGetPhysicallyInstalledSystemMemory, uintptr(unsafe.Pointer(&kb))); ok != 0 && kb > 0 {
		return float64(kb) / (1 << 20), nil
	}
	ms := memoryStatusEx{length: uint32(unsafe.Sizeof(memoryStatusEx{}))}
	if ok, err := callProc(procGlobalMemoryStatusEx, uintptr(unsafe.Pointer(&ms))); ok == 0 {
		return 0, fmt.Errorf("global memory status: %w", err)
	}
	return float64(ms.totalPhys) / (1 << 30), nil
}

// machineGUID reads the MachineGuid Windows creates at installation. The
// 64-bit registry view is asked for explicitly: a 32-bit process would
// otherwise read WOW6432Node, which has no MachineGuid.
func machineGUID() (string, error) {
	const path = `SOFTWARE\Microsoft\Cryptography`
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", fmt.Errorf("open HKLM\\%s: %w", path, err)
	}
	defer k.Close()
	v, _, err := k.GetStringValue("MachineGuid")
	if err != nil {
		return "", fmt.Errorf("read MachineGuid: %w", err)
	}
	return v, nil
}
