package hardware

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// collect reads the components from sysfs, procfs and /etc, without cgo,
// external commands or root rights (root only adds the DMI values).
func collect(ctx context.Context) (Raw, error) {
	c := linuxCollector{root: "/", permAddr: ethtoolPermAddr}
	return c.collect(ctx)
}

// linuxCollector reads components below a filesystem root, so that tests
// can point it at a fake tree.
type linuxCollector struct {
	root string // "/" on a real system
	// permAddr returns the permanent MAC address of a network interface,
	// or "" if unknown. Nil means unknown for every interface.
	permAddr func(ifname string) string
}

func (c linuxCollector) collect(ctx context.Context) (Raw, error) {
	var r Raw
	err := runSteps(ctx, []step{
		// Both DMI files are readable by root only: without root they are
		// skipped, which is normal.
		{"system uuid", func() (err error) {
			r.SystemUUID, err = c.readString("sys/class/dmi/id/product_uuid")
			return err
		}},
		{"board serial", func() (err error) {
			r.BoardSerial, err = c.boardSerial()
			return err
		}},
		{"disks", func() (err error) {
			r.Disks, err = c.disks()
			return err
		}},
		{"network cards", func() (err error) {
			r.MACs, err = c.macs()
			return err
		}},
		{"cpu", func() (err error) {
			r.CPU, err = c.cpu()
			return err
		}},
		{"memory", func() (err error) {
			r.MemoryGB, err = c.memory()
			return err
		}},
		{"os install id", func() (err error) {
			r.OSInstallID, err = c.machineID()
			return err
		}},
	})
	return r, err
}

// path returns the real path of p, a slash-separated path relative to the
// root.
func (c linuxCollector) path(p ...string) string {
	return filepath.Join(append([]string{c.root}, p...)...)
}

// readString returns the trimmed content of a small file below the root.
func (c linuxCollector) readString(p ...string) (string, error) {
	b, err := os.ReadFile(c.path(p...))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.Trim(string(b), "\x00")), nil
}

func (c linuxCollector) exists(p ...string) bool {
	_, err := os.Stat(c.path(p...))
	return err == nil
}

// boardSerial reads the DMI baseboard serial or, on device-tree systems
// without DMI (Raspberry Pi and other ARM boards), the board serial number
// the firmware puts in the device tree, which any user may read.
func (c linuxCollector) boardSerial() (string, error) {
	s, err := c.readString("sys/class/dmi/id/board_serial")
	if err == nil && s != "" {
		return s, nil
	}
	if dt, dtErr := c.readString("sys/firmware/devicetree/base/serial-number"); dtErr == nil && dt != "" {
		return dt, nil
	}
	return s, err
}

// machineID reads the systemd machine id, or the D-Bus one on systems
// without systemd. Both are 32 hex digits, made at installation.
func (c linuxCollector) machineID() (string, error) {
	var errs []error
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		s, err := c.readString(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if id := parseMachineID(s); id != "" {
			return id, nil
		}
		errs = append(errs, fmt.Errorf("%s: not a machine id", p))
	}
	return "", errors.Join(errs...)
}

// parseMachineID returns s if it is a machine id (32 hex digits, not all
// zero), else "". Containers often carry an empty or "uninitialized" one.
func parseMachineID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 32 || strings.Trim(s, "0") == "" {
		return ""
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return ""
		}
	}
	return s
}

func (c linuxCollector) cpu() (string, error) {
	f, err := os.Open(c.path("proc/cpuinfo"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseCPUInfo(f)
}

// parseCPUInfo returns the identity of the first processor in
// /proc/cpuinfo: vendor, model name, family, model and stepping on x86;
// implementer, architecture, part, variant and revision on ARM; the cpu
// line elsewhere. Frequencies, flags and bug lists are ignored.
func parseCPUInfo(r io.Reader) (string, error) {
	fields := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // flags lines are long
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(fields) > 0 {
				break // end of the first processor
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := fields[k]; !seen {
			fields[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read cpuinfo: %w", err)
	}
	var id cpuID
	switch {
	case fields["vendor_id"] != "" || fields["model name"] != "":
		id = cpuID{
			vendor:   fields["vendor_id"],
			name:     fields["model name"],
			family:   fields["cpu family"],
			model:    fields["model"],
			stepping: fields["stepping"],
		}
	case fields["CPU implementer"] != "":
		id = cpuID{
			vendor:   "implementer " + fields["CPU implementer"],
			family:   fields["CPU architecture"],
			model:    fields["CPU part"],
			stepping: armStepping(fields["CPU variant"], fields["CPU revision"]),
		}
	case fields["cpu"] != "": // POWER and others
		id = cpuID{name: fields["cpu"]}
	}
	s := id.String()
	if s == "" {
		return "", errors.New("no processor identity in cpuinfo")
	}
	return s, nil
}

// armStepping formats an ARM variant and revision as rNpM, ARM's name for
// a core's stepping.
func armStepping(variant, revision string) string {
	v, err1 := strconv.ParseUint(variant, 0, 8)
	r, err2 := strconv.ParseUint(revision, 0, 8)
	if err1 != nil || err2 != nil {
		return ""
	}
	return fmt.Sprintf("r%dp%d", v, r)
}

func (c linuxCollector) memory() (float64, error) {
	f, err := os.Open(c.path("proc/meminfo"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseMemInfo(f)
}

// parseMemInfo returns MemTotal from /proc/meminfo in GB (2^30 bytes).
// MemTotal is a little less than the installed memory (the kernel and the
// firmware reserve some); MemoryBucket absorbs the difference.
func parseMemInfo(r io.Reader) (float64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse meminfo MemTotal: %w", err)
		}
		if len(f) > 2 && f[2] != "kB" {
			return 0, fmt.Errorf("parse meminfo MemTotal: unit %q, want kB", f[2])
		}
		return float64(kb) / (1 << 20), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, errors.New("no MemTotal in meminfo")
}

// Ranks of the sources of a disk serial: lower is better.
const (
	rankSysfs  = iota // the kernel's own serial attribute
	rankSerial        // ata-, nvme-, virtio-, mmc- names: model_serial
	rankSCSI          // scsi- names derived from VPD pages 0x80 or 0x83
	rankUSB           // usb- names: often the USB bridge's serial
	rankWWN           // wwn-, nvme-eui.: a unique id, but not the serial
)

type diskSerial struct {
	serial string
	rank   int
}

// disks returns one serial per physical disk. It reads the kernel's
// serial attributes (NVMe, virtio, MMC, and VPD page 0x80 for SCSI and
// SATA disks, all readable without root) and, for disks without one, the
// names udev gives them in /dev/disk/by-id. Partitions, removable media
// and virtual block devices (loop, zram, device mapper, RAID, optical) are
// left out.
func (c linuxCollector) disks() ([]string, error) {
	found := map[string]diskSerial{} // by kernel device name: "sda"
	var errs []error

	ids, err := os.ReadDir(c.path("dev/disk/by-id"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range ids {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		serial, rank, ok := serialFromDiskID(e.Name())
		if !ok {
			continue
		}
		target, err := os.Readlink(c.path("dev/disk/by-id", e.Name()))
		if err != nil {
			continue
		}
		dev := filepath.Base(target)
		if !diskDeviceName(dev) {
			continue
		}
		if old, ok := found[dev]; !ok || rank < old.rank {
			found[dev] = diskSerial{serial, rank}
		}
	}

	blocks, err := os.ReadDir(c.path("sys/block"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range blocks {
		dev := e.Name()
		if !diskDeviceName(dev) || !c.exists("sys/block", dev, "device") {
			continue
		}
		if rm, _ := c.readString("sys/block", dev, "removable"); rm == "1" {
			delete(found, dev)
			continue
		}
		if s := c.sysfsDiskSerial(dev); s != "" {
			found[dev] = diskSerial{s, rankSysfs}
		}
	}

	var out []string
	for _, d := range found {
		out = append(out, d.serial)
	}
	if len(out) == 0 {
		errs = append(errs, errNone)
	}
	return out, errors.Join(errs...)
}

// sysfsDiskSerial returns the serial the kernel publishes for a block
// device, or "".
func (c linuxCollector) sysfsDiskSerial(dev string) string {
	for _, p := range [][]string{
		{"sys/block", dev, "device", "serial"}, // NVMe controller, MMC
		{"sys/block", dev, "serial"},           // virtio
	} {
		if s, err := c.readString(p...); err == nil && s != "" {
			return s
		}
	}
	if b, err := os.ReadFile(c.path("sys/block", dev, "device", "vpd_pg80")); err == nil {
		return parseVPD80(b)
	}
	return ""
}

// parseVPD80 returns the unit serial number in a SCSI VPD page 0x80 (for
// SATA disks, the ATA serial), or "".
func parseVPD80(b []byte) string {
	if len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	s := strings.TrimSpace(strings.Trim(string(b[4:min(4+n, len(b))]), "\x00"))
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return ""
		}
	}
	return s
}

// virtualDisks are prefixes of kernel names of block devices that are not
// physical disks.
var virtualDisks = []string{"loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd", "zd", "rbd", "drbd", "bcache", "nullb", "pmem"}

// diskDeviceName reports whether a kernel block device name may be a
// physical disk (not a partition of one).
func diskDeviceName(dev string) bool {
	if dev == "" || dev == "." || dev == ".." {
		return false
	}
	for _, p := range virtualDisks {
		if strings.HasPrefix(dev, p) {
			return false
		}
	}
	return true
}

var (
	partSuffix = regexp.MustCompile(`-part\d+$`)
	lunSuffix  = regexp.MustCompile(`-\d+:\d+$`)
	nsSuffix   = regexp.MustCompile(`_\d{1,3}$`)
)

// serialFromDiskID derives a disk serial from a /dev/disk/by-id name, with
// the rank of that source. udev names disks <bus>-<model>_<serial>
// ("ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456X"), with spaces turned
// into underscores, so the serial is the last underscore-separated field.
// Partitions and names of logical devices (dm-, md-, lvm-) are not disks.
func serialFromDiskID(name string) (serial string, rank int, ok bool) {
	if partSuffix.MatchString(name) {
		return "", 0, false
	}
	bus, id, _ := strings.Cut(name, "-")
	if id == "" {
		return "", 0, false
	}
	switch bus {
	case "ata", "mmc":
		return lastField(id), rankSerial, true
	case "virtio":
		return id, rankSerial, true // virtio names carry the bare serial
	case "nvme":
		if strings.HasPrefix(id, "eui.") || strings.HasPrefix(id, "nvme.") {
			return id, rankWWN, true
		}
		// Newer udev also links nvme-<model>_<serial>_<namespace>.
		if t := nsSuffix.ReplaceAllString(id, ""); strings.Contains(t, "_") {
			id = t
		}
		return lastField(id), rankSerial, true
	case "usb":
		return lastField(lunSuffix.ReplaceAllString(id, "")), rankUSB, true
	case "scsi":
		// The first character says where scsi_id found the id: S (VPD page
		// 0x80 serial), 0 (vendor specific) and 1 (T10 vendor id) end in
		// the serial; 2, 3, 5 and 8 (EUI-64, NAA, name string) are
		// world-wide names.
		switch id[0] {
		case 'S', '0', '1':
			return lastField(id[1:]), rankSCSI, true
		}
		return id, rankWWN, true
	case "wwn":
		return id, rankWWN, true
	}
	return "", 0, false
}

func lastField(s string) string {
	return s[strings.LastIndexByte(s, '_')+1:]
}

// macs returns the addresses of the physical network cards: interfaces
// with a device behind them (loopback, bridges, veth, tun, WireGuard and
// other virtual interfaces have none) whose link type is Ethernet (which
// includes Wi-Fi). The permanent address is used when the kernel gives it;
// see chooseMAC for the rest.
func (c linuxCollector) macs() ([]string, error) {
	entries, err := os.ReadDir(c.path("sys/class/net"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !c.exists("sys/class/net", name, "device") {
			continue
		}
		if t, err := c.readString("sys/class/net", name, "type"); err == nil && t != "1" {
			continue // not ARPHRD_ETHER: InfiniBand, CAN, ...
		}
		addr, err := c.readString("sys/class/net", name, "address")
		if err != nil {
			continue
		}
		// addr_assign_type 0 means the current address is the permanent
		// one; 1 random, 2 stolen (bonding), 3 set from user space.
		assign, _ := c.readString("sys/class/net", name, "addr_assign_type")
		var perm string
		if c.permAddr != nil {
			perm = c.permAddr(name)
		}
		if m := chooseMAC(perm, addr, assign == "0"); m != "" {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, errNone
	}
	return out, nil
}

// ethtoolPermAddr asks the driver for an interface's permanent address
// (ETHTOOL_GPERMADDR, which needs no privilege). It returns "" if the
// driver does not know it.
func ethtoolPermAddr(ifname string) string {
	if len(ifname) >= unix.IFNAMSIZ {
		return ""
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)

	// struct ethtool_perm_addr, with room for the address.
	req := &struct {
		cmd  uint32
		size uint32
		data [32]byte
	}{cmd: unix.ETHTOOL_GPERMADDR, size: 32}
	// struct ifreq with ifr_data pointing at req. The padding makes it at
	// least as large as the kernel's struct ifreq on every architecture.
	ifr := &struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [24]byte
	}{data: unsafe.Pointer(req)}
	copy(ifr.name[:], ifname)

	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(ifr)
	runtime.KeepAlive(req)
	if errno != 0 || req.size == 0 || req.size > uint32(len(req.data)) {
		return ""
	}
	return NormMAC(net.HardwareAddr(req.data[:req.size]).String())
}
