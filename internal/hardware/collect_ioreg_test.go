package hardware

import (
	"net"
	"os"
	"reflect"
	"testing"
)

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParsePlatformExpert(t *testing.T) {
	tests := []struct {
		fixture      string
		uuid, serial string
		wantErr      bool
	}{
		{"ioreg/platform-arm64.txt", "5A1B2C3D-4E5F-5061-7283-94A5B6C7D8E9", "K7V1234567", false},
		{"ioreg/platform-intel.txt", "A1B2C3D4-E5F6-4789-9ABC-DEF012345678", "C02XK123ML85", false},
		{"ioreg/storage.txt", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			uuid, serial, err := parsePlatformExpert(readFixture(t, tt.fixture))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePlatformExpert() error = %v, want error %v", err, tt.wantErr)
			}
			if uuid != tt.uuid || serial != tt.serial {
				t.Errorf("parsePlatformExpert() = %q, %q; want %q, %q", uuid, serial, tt.uuid, tt.serial)
			}
		})
	}
}

func TestParseBlockStorageSerials(t *testing.T) {
	// Internal NVMe and SATA disks count; the USB stick (external), the
	// disk image and the virtual disk do not, nor a disk without a serial.
	got := parseBlockStorageSerials(readFixture(t, "ioreg/storage.txt"))
	want := []string{"0ba0123456789abc", "S3Z9NB0K123456X"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseBlockStorageSerials() = %q, want %q", got, want)
	}
}

func TestIORegDictStr(t *testing.T) {
	o := ioregObject{
		"D": `{"Note"="a "Serial Number"="fake","Serial Number"="S1","Empty"=""}`,
		"N": `{"Count"=3,"Serial Number"=12}`,
		"T": `{"Serial Number"="unterminated`,
	}
	tests := []struct {
		prop, key, want string
	}{
		{"D", "Serial Number", "S1"},
		{"D", "Empty", ""},
		{"D", "Missing", ""},
		{"N", "Serial Number", ""}, // not a string
		{"T", "Serial Number", ""},
		{"absent", "Serial Number", ""},
	}
	for _, tt := range tests {
		if got := o.dictStr(tt.prop, tt.key); got != tt.want {
			t.Errorf("dictStr(%q, %q) = %q, want %q", tt.prop, tt.key, got, tt.want)
		}
	}
}

func TestParseIORegTree(t *testing.T) {
	out := "+-o A  <class X>\n" +
		"  | {\n" +
		"  |   \"Key\" = \"a\"\n" +
		"  |   \"Key\" = \"duplicate\"\n" +
		"  |   \"Data\" = <00ff>\n" +
		"  |   \"Broken = \"x\"\n" +
		"  | }\n" +
		"  +-o B  <class Y>\r\n" +
		"      \"Key\" = \"b\"\r\n"
	got := parseIOReg(out)
	want := []ioregObject{
		{"Key": `"a"`, "Data": "<00ff>"},
		{"Key": `"b"`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseIOReg() = %q, want %q", got, want)
	}
	if s := got[0].str("Data"); s != "" {
		t.Errorf(`str("Data") = %q, want ""`, s)
	}
}

func FuzzParseIOReg(f *testing.F) {
	f.Add(readFixture(f, "ioreg/storage.txt"))
	f.Add(readFixture(f, "ioreg/platform-arm64.txt"))
	f.Fuzz(func(t *testing.T, out string) {
		// Must not panic.
		parseBlockStorageSerials(out)
		parsePlatformExpert(out)
	})
}

func TestMacOSInterfaceMACs(t *testing.T) {
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ifs := []net.Interface{
		{Name: "lo0", Flags: net.FlagLoopback | net.FlagUp},
		{Name: "en0", HardwareAddr: mac("3c:22:fb:12:34:56"), Flags: net.FlagUp}, // Wi-Fi
		{Name: "en1", HardwareAddr: mac("82:a1:c4:00:00:01")},                    // Thunderbolt port, locally administered
		{Name: "en5", HardwareAddr: mac("ac:de:48:00:11:22")},                    // T2 iBridge
		{Name: "en6", HardwareAddr: mac("a4:83:e7:65:43:21")},                    // USB Ethernet
		{Name: "en7", HardwareAddr: mac("6e:7e:67:aa:bb:cc"), Flags: net.FlagUp}, // private Wi-Fi address
		{Name: "bridge0", HardwareAddr: mac("36:a1:c4:00:00:00")},
		{Name: "awdl0", HardwareAddr: mac("1a:2b:3c:4d:5e:6f")},
		{Name: "utun0"},
		{Name: "en8", HardwareAddr: mac("00:00:00:00:00:00:00:e0")}, // not 6 bytes
	}
	got := macOSInterfaceMACs(ifs)
	want := []string{"3c:22:fb:12:34:56", "a4:83:e7:65:43:21"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("macOSInterfaceMACs() = %q, want %q", got, want)
	}
}
