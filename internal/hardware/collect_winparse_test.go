package hardware

import (
	"encoding/binary"
	"testing"
)

// storageDescriptor builds a STORAGE_DEVICE_DESCRIPTOR as a disk driver
// returns it, with vendor, product and serial strings after the fixed
// part.
func storageDescriptor(serial string, busType uint32, removable bool) []byte {
	b := make([]byte, 40)
	binary.LittleEndian.PutUint32(b[0:], 40) // Version: sizeof the struct
	if removable {
		b[10] = 1
	}
	b[8] = 0 // DeviceType: direct access
	addString := func(field int, s string) {
		binary.LittleEndian.PutUint32(b[field:], uint32(len(b)))
		b = append(b, s...)
		b = append(b, 0)
	}
	addString(12, "") // vendor
	addString(16, "Samsung SSD 970 EVO Plus 1TB")
	addString(20, "2B2QEXM7")
	if serial != "" {
		addString(24, serial)
	}
	binary.LittleEndian.PutUint32(b[28:], busType)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b))) // Size
	return b
}

func TestParseStorageDescriptor(t *testing.T) {
	const busSATA, busUSB, busNVMe = 0x0B, 0x07, 0x11
	nvme := storageDescriptor("0025_3858_91B0_1234.", busNVMe, false)
	tests := []struct {
		name         string
		buf          []byte
		want         storageDevice
		wantPhysical bool
		wantErr      bool
	}{
		{
			name:         "NVMe",
			buf:          nvme,
			want:         storageDevice{serial: "0025_3858_91B0_1234.", busType: busNVMe},
			wantPhysical: true,
		},
		{
			name:         "SATA serial with padding",
			buf:          storageDescriptor("     S3Z9NB0K123456X", busSATA, false),
			want:         storageDevice{serial: "S3Z9NB0K123456X", busType: busSATA},
			wantPhysical: true,
		},
		{
			name:         "USB disk",
			buf:          storageDescriptor("575834314135383939393939", busUSB, false),
			want:         storageDevice{serial: "575834314135383939393939", busType: busUSB},
			wantPhysical: true,
		},
		{
			name: "USB stick",
			buf:  storageDescriptor("4C530001230101104271", busUSB, true),
			want: storageDevice{serial: "4C530001230101104271", busType: busUSB, removable: true},
		},
		{
			name: "mounted VHD",
			buf:  storageDescriptor("vhd", busFileBackedVirtual, false),
			want: storageDevice{serial: "vhd", busType: busFileBackedVirtual},
		},
		{
			name: "iSCSI",
			buf:  storageDescriptor("iqn", busISCSI, false),
			want: storageDevice{serial: "iqn", busType: busISCSI},
		},
		{
			name:         "no serial",
			buf:          storageDescriptor("", busSATA, false),
			want:         storageDevice{busType: busSATA},
			wantPhysical: true,
		},
		{
			name: "serial offset past the end",
			buf: func() []byte {
				b := storageDescriptor("X", busSATA, false)
				binary.LittleEndian.PutUint32(b[24:], 4096)
				return b
			}(),
			want:         storageDevice{busType: busSATA},
			wantPhysical: true,
		},
		{
			name:         "truncated serial: no NUL",
			buf:          nvme[:len(nvme)-3],
			want:         storageDevice{serial: "0025_3858_91B0_123", busType: busNVMe},
			wantPhysical: true,
		},
		{
			name: "Size shorter than the buffer",
			buf: func() []byte {
				b := storageDescriptor("SERIAL", busSATA, false)
				binary.LittleEndian.PutUint32(b[4:], 40) // the strings are beyond Size
				return append(b, make([]byte, 100)...)
			}(),
			want:         storageDevice{busType: busSATA},
			wantPhysical: true,
		},
		{
			name:    "Size below the fixed part",
			buf:     func() []byte { b := storageDescriptor("S", busSATA, false); b[4] = 8; return b }(),
			wantErr: true,
		},
		{
			name:    "short buffer",
			buf:     nvme[:20],
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStorageDescriptor(tt.buf)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStorageDescriptor() error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseStorageDescriptor() = %+v, want %+v", got, tt.want)
			}
			if !tt.wantErr && got.physical() != tt.wantPhysical {
				t.Errorf("%+v.physical() = %v, want %v", got, got.physical(), tt.wantPhysical)
			}
		})
	}
}

func FuzzParseStorageDescriptor(f *testing.F) {
	f.Add(storageDescriptor("0025_3858_91B0_1234.", 0x11, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStorageDescriptor(b) // must not panic
	})
}

func TestParseCPUIdentifier(t *testing.T) {
	tests := []struct {
		in                      string
		family, model, stepping string
	}{
		{"Intel64 Family 6 Model 142 Stepping 10", "6", "142", "10"},
		{"AMD64 Family 25 Model 33 Stepping 0", "25", "33", "0"},
		{"x86 Family 6 Model 58 Stepping 9", "6", "58", "9"},
		{"ARMv8 (64-bit) Family 8 Model D4B Revision   0", "8", "D4B", "0"},
		{"", "", "", ""},
		{"Family", "", "", ""},
	}
	for _, tt := range tests {
		f, m, s := parseCPUIdentifier(tt.in)
		if f != tt.family || m != tt.model || s != tt.stepping {
			t.Errorf("parseCPUIdentifier(%q) = %q, %q, %q; want %q, %q, %q", tt.in, f, m, s, tt.family, tt.model, tt.stepping)
		}
	}
}

func TestPhysicalIfRow(t *testing.T) {
	const nic = ifHardwareInterface | ifConnectorPresent
	tests := []struct {
		name   string
		ifType uint32
		flags  uint8
		want   bool
	}{
		{"Ethernet card", ifTypeEthernet, nic, true},
		{"Wi-Fi card", ifTypeIEEE80211, nic, true},
		{"Wi-Fi card, disconnected", ifTypeIEEE80211, nic | 1<<4, true},
		{"filter instance of a card", ifTypeEthernet, nic | ifFilterInterface, false},
		{"Hyper-V virtual switch", ifTypeEthernet, 0, false},
		{"VPN adapter with hardware flag, no connector", ifTypeEthernet, ifHardwareInterface, false},
		{"loopback", 24, nic, false},
		{"tunnel", 131, nic, false},
		{"mobile broadband", 243, nic, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := physicalIfRow(tt.ifType, tt.flags); got != tt.want {
				t.Errorf("physicalIfRow(%d, %#x) = %v, want %v", tt.ifType, tt.flags, got, tt.want)
			}
		})
	}
}
