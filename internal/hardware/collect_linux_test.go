package hardware

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeTree creates files below root: a path ending in "/" is a
// directory, anything else a file with that content.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// linkByID makes root/dev/disk/by-id from a listing of "name -> target"
// lines.
func linkByID(t *testing.T, root, fixture string) {
	t.Helper()
	dir := filepath.Join(root, "dev/disk/by-id")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(readFixture(t, fixture)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, target, ok := strings.Cut(line, " -> ")
		if !ok {
			t.Fatalf("%s: bad line %q", fixture, line)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseCPUInfo(t *testing.T) {
	tests := []struct {
		fixture string
		want    string
		wantErr bool
	}{
		{"intel.txt", "GenuineIntel Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz family 6 model 142 stepping 10", false},
		{"intel-throttled.txt", "GenuineIntel Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz family 6 model 142 stepping 10", false},
		{"amd-epyc-vm.txt", "AuthenticAMD AMD EPYC family 25 model 17 stepping 1", false},
		{"arm64-neoverse-n1.txt", "implementer 0x41 family 8 model 0xd0c stepping r3p1", false},
		{"ppc64le-power9.txt", "POWER9 (architected), altivec supported", false},
		{"no-identity.txt", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := parseCPUInfo(strings.NewReader(readFixture(t, "cpuinfo/"+tt.fixture)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseCPUInfo() error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseCPUInfo() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseMemInfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{"fixture", readFixture(t, "meminfo.txt"), 16318480.0 / (1 << 20), false},
		{"exactly 1 GiB", "MemTotal: 1048576 kB\n", 1, false},
		{"no unit", "MemTotal: 1048576\n", 1, false},
		{"other unit", "MemTotal: 1024 MB\n", 0, true},
		{"not a number", "MemTotal: lots kB\n", 0, true},
		{"missing", "MemFree: 1 kB\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemInfo(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMemInfo() error = %v, want error %v", err, tt.wantErr)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("parseMemInfo() = %v, want %v", got, tt.want)
			}
		})
	}
	if b := MemoryBucket(16318480.0 / (1 << 20)); b != "16" {
		t.Errorf("MemoryBucket(MemTotal of a 16 GB machine) = %q, want 16", b)
	}
}

func TestSerialFromDiskID(t *testing.T) {
	tests := []struct {
		name   string
		serial string
		rank   int
		ok     bool
	}{
		{"ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456X", "S3Z9NB0K123456X", rankSerial, true},
		{"ata-WDC_WD10EZEX-08WN4A0_WD-WCC6Y1234567", "WD-WCC6Y1234567", rankSerial, true},
		{"ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456X-part1", "", 0, false},
		{"nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R654321A", "S4EWNX0R654321A", rankSerial, true},
		{"nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R654321A_1", "S4EWNX0R654321A", rankSerial, true},
		{"nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R654321A_1-part3", "", 0, false},
		{"nvme-eui.0025385891b01234", "eui.0025385891b01234", rankWWN, true},
		{"nvme-nvme.144d-533445574e5830-53616d73756e67-00000001", "nvme.144d-533445574e5830-53616d73756e67-00000001", rankWWN, true},
		{"virtio-vol-0123456789", "vol-0123456789", rankSerial, true},
		{"mmc-SD32G_0x1a2b3c4d", "0x1a2b3c4d", rankSerial, true},
		{"usb-WD_Elements_25A2_575834314135383939393939-0:0", "575834314135383939393939", rankUSB, true},
		{"scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0", "drive-scsi0-0-0-0", rankSCSI, true},
		{"scsi-SATA_Samsung_SSD_860_S3Z9NB0K123456X", "S3Z9NB0K123456X", rankSCSI, true},
		{"scsi-1ATA_Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456X", "S3Z9NB0K123456X", rankSCSI, true},
		{"scsi-35000c500a1b2c3d4", "35000c500a1b2c3d4", rankWWN, true},
		{"wwn-0x5002538e40a1b2c3", "0x5002538e40a1b2c3", rankWWN, true},
		{"dm-name-cryptroot", "", 0, false},
		{"lvm-pv-uuid-AbCdEf", "", 0, false},
		{"md-uuid-8f6c2a1e:0b3d4c5e", "", 0, false},
		{"ata-", "", 0, false},
		{"nodash", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serial, rank, ok := serialFromDiskID(tt.name)
			if serial != tt.serial || rank != tt.rank || ok != tt.ok {
				t.Errorf("serialFromDiskID(%q) = %q, %d, %v; want %q, %d, %v", tt.name, serial, rank, ok, tt.serial, tt.rank, tt.ok)
			}
		})
	}
}

func TestParseVPD80(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"ATA serial", append([]byte{0, 0x80, 0, 20}, "     S3Z9NB0K123456X"...), "S3Z9NB0K123456X"},
		{"length past the end", append([]byte{0, 0x80, 0, 99}, "ZA1B2C3D"...), "ZA1B2C3D"},
		{"NUL padded", append([]byte{0, 0x80, 0, 8}, "ABC\x00\x00\x00\x00\x00"...), "ABC"},
		{"wrong page", append([]byte{0, 0x83, 0, 3}, "ABC"...), ""},
		{"binary", []byte{0, 0x80, 0, 2, 0x01, 0xff}, ""},
		{"short", []byte{0, 0x80}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseVPD80(tt.in); got != tt.want {
				t.Errorf("parseVPD80(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMachineID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"3d1219c7c4c5404aaa1f6d2a48adfda4\n", "3d1219c7c4c5404aaa1f6d2a48adfda4"},
		{"3D1219C7C4C5404AAA1F6D2A48ADFDA4", "3d1219c7c4c5404aaa1f6d2a48adfda4"},
		{"uninitialized", ""},
		{"00000000000000000000000000000000", ""},
		{"3d1219c7-c4c5-404a-aa1f-6d2a48adfda4", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := parseMachineID(tt.in); got != tt.want {
			t.Errorf("parseMachineID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// desktopTree is a fake root of a desktop with SATA, NVMe, USB, SCSI,
// virtio and MMC disks and a mix of physical and virtual network
// interfaces.
func desktopTree(t *testing.T) string {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"sys/class/dmi/id/product_uuid": "4c4c4544-0042-3510-8051-b4c04f4e5432\n",
		"sys/class/dmi/id/board_serial": "/5QK1ZX2/CN1296392A0042/\n",

		// sda: SATA, serial from VPD page 0x80 (same as its by-id name).
		"sys/block/sda/device/vpd_pg80": "\x00\x80\x00\x14     S3Z9NB0K123456X",
		"sys/block/sda/removable":       "0\n",
		// nvme0n1: the controller's serial attribute, space padded.
		"sys/block/nvme0n1/device/serial": "S4EWNX0R654321A     \n",
		"sys/block/nvme0n1/removable":     "0\n",
		// nvme1n1: no readable serial; only a namespaced by-id name.
		"sys/block/nvme1n1/device/": "",
		// sdb: a USB stick.
		"sys/block/sdb/device/":   "",
		"sys/block/sdb/removable": "1\n",
		// sdc: a USB disk; sdd: a QEMU SCSI disk; sde: a SAS disk with
		// only world-wide names. No sysfs serials.
		"sys/block/sdc/device/": "",
		"sys/block/sdd/device/": "",
		"sys/block/sde/device/": "",
		// vda: virtio with a serial; vdb: virtio without one.
		"sys/block/vda/device/": "",
		"sys/block/vda/serial":  "vol-0123456789\n",
		"sys/block/vdb/device/": "",
		"sys/block/vdb/serial":  "",
		// mmcblk0 and its boot partition share the card's serial.
		"sys/block/mmcblk0/device/serial":      "0x1a2b3c4d\n",
		"sys/block/mmcblk0boot0/device/serial": "0x1a2b3c4d\n",
		// Virtual block devices, some with serial files, never count.
		"sys/block/loop0/":            "",
		"sys/block/zram0/":            "",
		"sys/block/dm-0/":             "",
		"sys/block/md127/":            "",
		"sys/block/sr0/device/":       "",
		"sys/block/nbd0/device/":      "",
		"sys/block/loop1/serial":      "loop-serial",
		"sys/block/xvda/removable":    "0\n", // no device link
		"sys/block/xvda/serial":       "no-device",
		"sys/block/sr1/device/serial": "DVD-SERIAL",

		// Network interfaces.
		"sys/class/net/eth0/device/":             "", // permanent address
		"sys/class/net/eth0/type":                "1\n",
		"sys/class/net/eth0/address":             "00:1b:21:3a:4f:5c\n",
		"sys/class/net/eth0/addr_assign_type":    "0\n",
		"sys/class/net/eth1/device/":             "", // old kernel: no addr_assign_type
		"sys/class/net/eth1/type":                "1\n",
		"sys/class/net/eth1/address":             "00:1b:21:3a:4f:5e\n",
		"sys/class/net/enp3s0/device/":           "", // bond member: stolen address
		"sys/class/net/enp3s0/type":              "1\n",
		"sys/class/net/enp3s0/address":           "00:1b:21:3a:4f:5d\n",
		"sys/class/net/enp3s0/addr_assign_type":  "2\n",
		"sys/class/net/ens3/device/":             "", // VM NIC: locally administered but permanent
		"sys/class/net/ens3/type":                "1\n",
		"sys/class/net/ens3/address":             "52:54:00:12:34:56\n",
		"sys/class/net/ens3/addr_assign_type":    "0\n",
		"sys/class/net/wlan0/device/":            "", // randomised by NetworkManager
		"sys/class/net/wlan0/type":               "1\n",
		"sys/class/net/wlan0/address":            "da:a1:19:00:00:01\n",
		"sys/class/net/wlan0/addr_assign_type":   "3\n",
		"sys/class/net/wlan1/device/":            "", // randomised, but the driver knows the permanent address
		"sys/class/net/wlan1/type":               "1\n",
		"sys/class/net/wlan1/address":            "6a:00:00:00:00:02\n",
		"sys/class/net/wlan1/addr_assign_type":   "3\n",
		"sys/class/net/usb0/device/":             "", // USB tethering: random
		"sys/class/net/usb0/type":                "1\n",
		"sys/class/net/usb0/address":             "ee:3f:4a:00:00:02\n",
		"sys/class/net/usb0/addr_assign_type":    "1\n",
		"sys/class/net/enx1/device/":             "", // T2 iBridge on a Mac running Linux
		"sys/class/net/enx1/type":                "1\n",
		"sys/class/net/enx1/address":             "ac:de:48:00:11:22\n",
		"sys/class/net/enx1/addr_assign_type":    "0\n",
		"sys/class/net/ib0/device/":              "", // InfiniBand
		"sys/class/net/ib0/type":                 "32\n",
		"sys/class/net/ib0/address":              "80:00:02:08:fe:80:00:00:00:00:00:00:24:8a:07:03:00:a1:b2:c3\n",
		"sys/class/net/lo/type":                  "772\n",
		"sys/class/net/lo/address":               "00:00:00:00:00:00\n",
		"sys/class/net/docker0/type":             "1\n",
		"sys/class/net/docker0/address":          "02:42:ac:11:00:01\n",
		"sys/class/net/docker0/addr_assign_type": "3\n",
		"sys/class/net/veth1a2b3c/type":          "1\n",
		"sys/class/net/veth1a2b3c/address":       "3e:11:22:33:44:55\n",
		"sys/class/net/wg0/type":                 "65534\n",
		"sys/class/net/virbr0/address":           "52:54:00:aa:bb:cc\n",

		"proc/cpuinfo":            readFixture(t, "cpuinfo/intel.txt"),
		"proc/meminfo":            readFixture(t, "meminfo.txt"),
		"etc/machine-id":          "uninitialized\n",
		"var/lib/dbus/machine-id": "3d1219c7c4c5404aaa1f6d2a48adfda4\n",
	})
	linkByID(t, root, "by-id.txt")
	return root
}

func TestLinuxCollector(t *testing.T) {
	permAddr := func(ifname string) string {
		if ifname == "wlan1" {
			return "f8:59:71:aa:bb:cc"
		}
		return ""
	}
	tests := []struct {
		name    string
		root    func(t *testing.T) string
		want    Raw
		wantErr bool
	}{
		{
			name: "desktop",
			root: desktopTree,
			want: Raw{
				SystemUUID:  "4c4c4544-0042-3510-8051-b4c04f4e5432",
				BoardSerial: "/5QK1ZX2/CN1296392A0042/",
				Disks: []string{
					"0x1a2b3c4d",               // mmcblk0
					"2047A1801234",             // nvme1n1, from nvme-..._1
					"35000c500a1b2c3d4",        // sde, world-wide name
					"575834314135383939393939", // sdc, USB disk
					"S3Z9NB0K123456X",          // sda
					"S4EWNX0R654321A",          // nvme0n1
					"drive-scsi0-0-0-0",        // sdd
					"vol-0123456789",           // vda
				},
				MACs: []string{
					"00:1b:21:3a:4f:5c", // eth0
					"00:1b:21:3a:4f:5d", // enp3s0
					"00:1b:21:3a:4f:5e", // eth1
					"52:54:00:12:34:56", // ens3
					"f8:59:71:aa:bb:cc", // wlan1, permanent
				},
				CPU:         "GenuineIntel Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz family 6 model 142 stepping 10",
				MemoryGB:    16318480.0 / (1 << 20),
				OSInstallID: "3d1219c7c4c5404aaa1f6d2a48adfda4",
			},
		},
		{
			name: "ARM board without DMI, as non-root",
			root: func(t *testing.T) string {
				root := t.TempDir()
				writeTree(t, root, map[string]string{
					"sys/firmware/devicetree/base/serial-number": "10000000abcdef01\x00",
					"sys/block/mmcblk0/device/":                  "",
					"proc/cpuinfo":                               readFixture(t, "cpuinfo/arm64-neoverse-n1.txt"),
					"proc/meminfo":                               "MemTotal:        3884328 kB\n",
					"etc/machine-id":                             "0f1e2d3c4b5a69788796a5b4c3d2e1f0\n",
				})
				return root
			},
			want: Raw{
				BoardSerial: "10000000abcdef01",
				CPU:         "implementer 0x41 family 8 model 0xd0c stepping r3p1",
				MemoryGB:    3884328.0 / (1 << 20),
				OSInstallID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
			},
		},
		{
			name: "container: only procfs",
			root: func(t *testing.T) string {
				root := t.TempDir()
				writeTree(t, root, map[string]string{
					"proc/cpuinfo":   readFixture(t, "cpuinfo/amd-epyc-vm.txt"),
					"proc/meminfo":   "MemTotal: 2097152 kB\n",
					"etc/machine-id": "\n",
				})
				return root
			},
			want: Raw{CPU: "AuthenticAMD AMD EPYC family 25 model 17 stepping 1", MemoryGB: 2},
		},
		{
			name:    "nothing readable",
			root:    func(t *testing.T) string { return t.TempDir() },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := linuxCollector{root: tt.root(t), permAddr: permAddr}
			got, err := result(c.collect(context.Background()))
			if (err != nil) != tt.wantErr {
				t.Fatalf("collect() error = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("collect() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLinuxCollectorNothingReadable(t *testing.T) {
	c := linuxCollector{root: t.TempDir()}
	_, err := result(c.collect(context.Background()))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("collect() error = %v, want it to wrap os.ErrNotExist", err)
	}
}

func TestLinuxCollectorCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := linuxCollector{root: desktopTree(t)}
	got, err := result(c.collect(ctx))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("collect(cancelled) = %+v, %v; want context.Canceled", got, err)
	}
}

// TestCollect runs the real collector on this machine, which may be a VM
// or a container without root: it must succeed quickly with at least the
// CPU and the memory.
func TestCollect(t *testing.T) {
	start := time.Now()
	r, err := Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	if d := time.Since(start); d > collectTimeout {
		t.Errorf("Collect() took %v, want at most %v", d, collectTimeout)
	}
	if r.CPU == "" || r.MemoryGB <= 0 {
		t.Errorf("Collect() = %+v, want CPU and MemoryGB", r)
	}
	t.Logf("Collect() = %+v", r)
}

func TestEthtoolPermAddr(t *testing.T) {
	// No permanent address for loopback or an interface that does not
	// exist, and no panic for a name too long for the kernel.
	for _, name := range []string{"lo", "nonexistent0", strings.Repeat("x", 40)} {
		if got := ethtoolPermAddr(name); got != "" {
			t.Errorf("ethtoolPermAddr(%q) = %q, want \"\"", name, got)
		}
	}
	entries, _ := os.ReadDir("/sys/class/net")
	for _, e := range entries {
		t.Logf("ethtoolPermAddr(%q) = %q", e.Name(), ethtoolPermAddr(e.Name()))
	}
}
