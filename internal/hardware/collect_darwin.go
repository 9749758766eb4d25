package hardware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// collect reads the components with ioreg(8), sysctl(3) and the interface
// list, without cgo or root rights.
//
// The Mac's hardware UUID (IOPlatformUUID) is its SMBIOS system UUID, so
// it fills SystemUUID; IOPlatformSerialNumber, the serial Apple writes to
// the logic board, fills BoardSerial. macOS has no per-installation id
// readable without root (nothing like /etc/machine-id), so OSInstallID is
// left empty.
func collect(ctx context.Context) (Raw, error) {
	var r Raw
	err := runSteps(ctx, []step{
		{"platform", func() error {
			out, err := ioreg(ctx, "IOPlatformExpertDevice")
			if err != nil {
				return err
			}
			r.SystemUUID, r.BoardSerial, err = parsePlatformExpert(out)
			return err
		}},
		{"disks", func() error {
			out, err := ioreg(ctx, "IOBlockStorageDevice")
			if err != nil {
				return err
			}
			if r.Disks = parseBlockStorageSerials(out); len(r.Disks) == 0 {
				return errNone
			}
			return nil
		}},
		{"network cards", func() error {
			ifs, err := net.Interfaces()
			if err != nil {
				return err
			}
			if r.MACs = macOSInterfaceMACs(ifs); len(r.MACs) == 0 {
				return errNone
			}
			return nil
		}},
		{"cpu", func() (err error) {
			r.CPU, err = cpuIdentity()
			return err
		}},
		{"memory", func() error {
			b, err := unix.SysctlUint64("hw.memsize")
			if err != nil {
				return fmt.Errorf("sysctl hw.memsize: %w", err)
			}
			r.MemoryGB = float64(b) / (1 << 30)
			return nil
		}},
	})
	return r, err
}

// ioreg lists the registry objects of a class (and its subclasses) with
// their properties, without their children. The command is cancelled
// when ctx is done.
func ioreg(ctx context.Context, class string) (string, error) {
	cmd := exec.CommandContext(ctx, "/usr/sbin/ioreg", "-r", "-d", "1", "-c", class)
	cmd.WaitDelay = 100 * time.Millisecond
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ioreg -c %s: %w", class, err)
	}
	return string(out), nil
}

// cpuIdentity reads the processor's vendor, brand string and, on Intel,
// family, model and stepping. Apple silicon has only the brand string
// ("Apple M1 Pro").
func cpuIdentity() (string, error) {
	brand, err := unix.Sysctl("machdep.cpu.brand_string")
	if err != nil {
		return "", fmt.Errorf("sysctl machdep.cpu.brand_string: %w", err)
	}
	vendor, _ := unix.Sysctl("machdep.cpu.vendor")
	num := func(name string) string {
		v, err := unix.SysctlUint32(name)
		if err != nil {
			return ""
		}
		return strconv.FormatUint(uint64(v), 10)
	}
	id := cpuID{vendor: vendor, name: brand}
	if vendor != "" {
		id.family, id.model, id.stepping = num("machdep.cpu.family"), num("machdep.cpu.model"), num("machdep.cpu.stepping")
	}
	if s := id.String(); s != "" {
		return s, nil
	}
	return "", errors.New("empty processor brand string")
}
