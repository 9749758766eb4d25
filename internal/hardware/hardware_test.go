package hardware

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

var salt = []byte("product-salt")

func pc() Raw {
	return Raw{
		SystemUUID:  "4C4C4544-0042-3510-8052-B4C04F4E4D32",
		BoardSerial: "/7B5RNM2/CN1296354A00A7/",
		Disks:       []string{"S4EWNX0M123456", "WD-WX12A3456789"},
		MACs:        []string{"B4:2E:99:3A:10:7C"},
		CPU:         "GenuineIntel Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz family 6 model 158 stepping 10",
		MemoryGB:    15.6,
		OSInstallID: "0f3c2a9e8d7b4c1a9e2f6d5c4b3a2910",
	}
}

// The scenario table of docs/hardware.md, row by row, at the default
// tolerance of 4 points.
func TestScenarios(t *testing.T) {
	const tolerance = 4
	tests := []struct {
		name   string
		change func(r *Raw)
		same   bool
		why    string
	}{
		{"nothing changed", func(r *Raw) {}, true, ""},
		{"RAM upgrade", func(r *Raw) { r.MemoryGB = 32 }, true, ""},
		{"disk swap (both disks)", func(r *Raw) { r.Disks = []string{"NEWDISK0001"} }, true, ""},
		{"disk added", func(r *Raw) { r.Disks = append(r.Disks, "NEWDISK0001") }, true, ""},
		{"NIC swap", func(r *Raw) { r.MACs = []string{"00:1b:21:aa:bb:cc"} }, true, ""},
		{"CPU upgrade", func(r *Raw) { r.CPU = "AMD Ryzen 7 5800X" }, true, ""},
		{"OS reinstall", func(r *Raw) { r.OSInstallID = "aaaaaaaabbbbccccddddeeeeeeeeeeee" }, true, ""},
		{"RAM upgrade and disk swap", func(r *Raw) { r.MemoryGB = 64; r.Disks = []string{"NEWDISK0001"} }, true, ""},
		{"RAM upgrade and NIC swap", func(r *Raw) { r.MemoryGB = 64; r.MACs = []string{"00:1b:21:aa:bb:cc"} }, true, ""},
		{"disk swap and OS reinstall", func(r *Raw) { r.Disks = []string{"NEWDISK0001"}; r.OSInstallID = "aaaaaaaabbbbccccddddeeeeeeeeeeee" }, true, ""},
		{"disk swap and NIC swap", func(r *Raw) { r.Disks = []string{"NEWDISK0001"}; r.MACs = []string{"00:1b:21:aa:bb:cc"} }, false, "too_many_changes"},
		{"CPU and disk swap", func(r *Raw) { r.CPU = "AMD Ryzen 7 5800X"; r.Disks = []string{"NEWDISK0001"} }, true, ""},
		{"NIC, disk and RAM", func(r *Raw) {
			r.MACs = []string{"00:1b:21:aa:bb:cc"}
			r.Disks = []string{"NEWDISK0001"}
			r.MemoryGB = 64
		}, false, "too_many_changes"},
		{"new motherboard", func(r *Raw) { r.SystemUUID = "11111111-2222-3333-4444-555555555555"; r.BoardSerial = "NEWBOARD" }, false, "board_changed"},
		{"new board serial only", func(r *Raw) { r.BoardSerial = "NEWBOARD" }, false, "board_changed"},
		{"cloned VM (new UUID, same disks and OS)", func(r *Raw) {
			r.SystemUUID = "564d1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b"
			r.MACs = []string{"00:50:56:aa:bb:cc"}
		}, false, "board_changed"},
		{"run without root (no UUID, no board serial)", func(r *Raw) { r.SystemUUID = ""; r.BoardSerial = "" }, true, ""},
		{"another PC", func(r *Raw) {
			*r = Raw{SystemUUID: "99999999-2222-3333-4444-555555555555", MACs: []string{"00:11:22:33:44:55"}, CPU: r.CPU, MemoryGB: r.MemoryGB}
		}, false, "board_changed"},
		{"only CPU and memory in common", func(r *Raw) { *r = Raw{CPU: r.CPU, MemoryGB: r.MemoryGB, MACs: []string{"00:11:22:33:44:55"}} }, false, "too_little_in_common"},
	}
	stored := pc().Hash(salt)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pc()
			tt.change(&r)
			v := Match(stored, r.Hash(salt), tolerance)
			if v.Same != tt.same || v.Why != tt.why {
				t.Errorf("Match = %+v, want same=%v why=%q", v, tt.same, tt.why)
			}
		})
	}
}

func TestToleranceIsTunable(t *testing.T) {
	stored := pc().Hash(salt)
	r := pc()
	r.MACs = []string{"00:1b:21:aa:bb:cc"} // 3 points
	if v := Match(stored, r.Hash(salt), 2); v.Same {
		t.Errorf("tolerance 2: NIC swap (3 points) = same, want changed")
	}
	r.Disks = []string{"x1"} // +2 = 5
	if v := Match(stored, r.Hash(salt), 5); !v.Same {
		t.Errorf("tolerance 5: 5 points changed = %+v, want same", v)
	}
}

func TestHashNormalises(t *testing.T) {
	a := pc()
	b := pc()
	b.SystemUUID = "{" + strings.ToLower(b.SystemUUID) + "}"
	b.MACs = []string{"b4-2e-99-3a-10-7c"}
	b.Disks = []string{"WD-WX12A3456789", "  S4EWNX0M123456 ", "S4EWNX0M123456"}
	b.MemoryGB = 16.2
	ha, hb := a.Hash(salt), b.Hash(salt)
	ja, _ := json.Marshal(ha)
	jb, _ := json.Marshal(hb)
	if string(ja) != string(jb) {
		t.Fatalf("normalisation differs:\n%s\n%s", ja, jb)
	}
	if other := a.Hash([]byte("other product")); other.SystemUUID == ha.SystemUUID {
		t.Fatal("hashes do not depend on the product salt")
	}
	if strings.Contains(string(ja), "S4EWNX0M123456") || strings.Contains(string(ja), "b4:2e") {
		t.Fatal("raw value in hashed profile")
	}
}

func TestJunkDropped(t *testing.T) {
	r := Raw{SystemUUID: "03000200-0400-0500-0006-000700080009", BoardSerial: "To be filled by O.E.M.", MACs: []string{"00:00:00:00:00:00", "nonsense"}, Disks: []string{"0000000"}, CPU: " "}
	p := r.Hash(salt)
	if p.SystemUUID != "" || p.BoardSerial != "" || len(p.MACs) != 0 || len(p.Disks) != 0 || p.CPU != "" {
		t.Fatalf("junk kept: %+v", p)
	}
	if err := p.Validate(); err != ErrNoIdentity {
		t.Fatalf("Validate(empty) = %v, want ErrNoIdentity", err)
	}
}

func TestMemoryBucket(t *testing.T) {
	for in, want := range map[float64]string{0.5: "1", 3.8: "4", 7.7: "8", 15.6: "16", 16: "16", 24: "32", 31.2: "32", 48: "64", 47: "32", 0: "", -1: ""} {
		if got := MemoryBucket(in); got != want {
			t.Errorf("MemoryBucket(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := pc().Hash(salt)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.CPU = "XYZ"
	if bad.Validate() == nil {
		t.Error("Validate accepted a malformed hash")
	}
	bad = good
	bad.MACs = make([]string, MaxMACs+1)
	for i := range bad.MACs {
		bad.MACs[i] = good.MACs[0]
	}
	if bad.Validate() == nil {
		t.Error("Validate accepted too many MACs")
	}
	// Too little to be recognised again: a license bound to such a profile
	// would not match the device it was issued to.
	for name, r := range map[string]Raw{
		"one disk":              {Disks: []string{"WD-1"}},
		"two disks":             {Disks: []string{"WD-1", "WD-2"}},
		"board serial":          {BoardSerial: "MB-1"},
		"OS install id":         {OSInstallID: "0123456789abcdef0123456789abcdef"},
		"OS install id, memory": {OSInstallID: "0123456789abcdef0123456789abcdef", MemoryGB: 16},
		"CPU and memory":        {CPU: "Some CPU", MemoryGB: 16},
		"nothing":               {},
	} {
		if err := r.Hash(salt).Validate(); err != ErrNoIdentity {
			t.Errorf("Validate(%s) = %v, want ErrNoIdentity", name, err)
		}
	}
	for name, r := range map[string]Raw{
		"system UUID":         {SystemUUID: "4c4c4544-0042-3510-8052-b4c04f4d3232"},
		"network card":        {MACs: []string{"b4:2e:99:01:02:03"}},
		"disk and CPU":        {Disks: []string{"WD-1"}, CPU: "Some CPU"},
		"board serial and OS": {BoardSerial: "MB-1", OSInstallID: "0123456789abcdef0123456789abcdef"},
	} {
		p := r.Hash(salt)
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", name, err)
		}
		if !Match(p, p, 0).Same {
			t.Errorf("%s: valid profile does not match itself", name)
		}
	}
}

func FuzzRawJSON(f *testing.F) {
	b, _ := json.Marshal(pc())
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"macs":["zz"],"memory_gb":-3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Raw
		if json.Unmarshal(data, &r) != nil {
			return
		}
		p := r.Hash(salt)
		if err := p.Validate(); err != nil && err != ErrNoIdentity {
			t.Fatalf("hashed profile invalid: %v (%+v)", err, p)
		}
		// A profile the server accepts must match itself, or a device
		// could spend a seat on a license it can never use.
		if v := Match(p, p, 0); (p.Validate() == nil) != v.Same {
			t.Fatalf("Validate and Match(p, p) disagree: %v, %+v", p.Validate(), v)
		}
		if p.Validate() == nil && len(p.Anchors()) == 0 {
			t.Fatalf("valid profile without anchors: %+v", p)
		}
	})
}

func TestIndexAnchors(t *testing.T) {
	p := pc().Hash(salt)
	idx := p.IndexAnchors()
	if len(idx) != MaxIndexAnchors || idx[0][0] != 1 || idx[1][0] != 4 {
		t.Fatalf("IndexAnchors kinds = %v, want uuid, mac", kinds(idx))
	}
	noBoard := Raw{Disks: []string{"d1"}, OSInstallID: "os1"}.Hash(salt)
	if k := kinds(noBoard.IndexAnchors()); len(k) != 2 || k[0] != 3 || k[1] != 5 {
		t.Fatalf("IndexAnchors without board = %v, want disk, os", k)
	}
	// every indexed anchor is among the lookup anchors
	all := map[string]bool{}
	for _, a := range p.Anchors() {
		all[string(a)] = true
	}
	for _, a := range idx {
		if !all[string(a)] {
			t.Fatal("indexed anchor not in Anchors()")
		}
	}
}

func kinds(as [][]byte) []byte {
	var out []byte
	for _, a := range as {
		out = append(out, a[0])
	}
	return out
}

func TestProfileAppendJSONMatchesEncodingJSON(t *testing.T) {
	h := strings.Repeat("ab", HashLen/2)
	for _, p := range []Profile{
		{},
		{SystemUUID: h},
		{Disks: []string{h, h}, MACs: []string{}, CPU: h},
		{SystemUUID: h, BoardSerial: h, Disks: []string{h}, MACs: []string{h, h}, CPU: h, Memory: h, OSInstallID: h},
		{SystemUUID: "<odd & \"escaped\">\n", Memory: "é"},
	} {
		want, err := json.Marshal(p)
		if got := p.AppendJSON(nil); err != nil || string(got) != string(want) {
			t.Errorf("AppendJSON(%+v) = %s, encoding/json writes %s %v", p, got, want, err)
		}
	}
}

// SameBoard needs the board seen on both sides: the same system UUID or
// board serial, none different, and enough else in common.
// A digital license without the key takes identifying weight 5, part of
// it from what is not seen from outside the device (docs/hardware.md).
func TestEnoughWithoutKey(t *testing.T) {
	stored := pc().Hash(salt)
	for _, tc := range []struct {
		name string
		keep func(r Raw) Raw
		want bool
	}{
		{"everything (reinstall, new OS id aside)", func(r Raw) Raw { r.OSInstallID = "new"; return r }, true},
		{"MAC and disk (no root)", func(r Raw) Raw { return Raw{MACs: r.MACs, Disks: r.Disks, CPU: r.CPU} }, true},
		{"UUID and board serial", func(r Raw) Raw { return Raw{SystemUUID: r.SystemUUID, BoardSerial: r.BoardSerial} }, true},
		{"UUID and MAC, both seen from outside", func(r Raw) Raw { return Raw{SystemUUID: r.SystemUUID, MACs: r.MACs, CPU: r.CPU, MemoryGB: r.MemoryGB} }, false},
		{"MAC alone", func(r Raw) Raw { return Raw{MACs: r.MACs, CPU: r.CPU, MemoryGB: r.MemoryGB} }, false},
		{"disk and OS install id (weight 3)", func(r Raw) Raw { return Raw{Disks: r.Disks, OSInstallID: r.OSInstallID, CPU: r.CPU} }, false},
	} {
		v := Match(stored, tc.keep(pc()).Hash(salt), 4)
		if got := v.EnoughWithoutKey(); got != tc.want {
			t.Errorf("%s: EnoughWithoutKey = %v (%+v), want %v", tc.name, got, v, tc.want)
		}
	}
}

func TestSameBoard(t *testing.T) {
	salt := []byte("salt")
	base := Raw{SystemUUID: "4c4c4544-0042", BoardSerial: "CN1296", Disks: []string{"D1"}, MACs: []string{"02:00:00:00:00:01"}, CPU: "cpu", MemoryGB: 16, OSInstallID: "os-1"}
	for _, tc := range []struct {
		name   string
		change func(r *Raw)
		want   bool
	}{
		{"nothing changed", func(r *Raw) {}, true},
		{"disk and NIC swapped", func(r *Raw) { r.Disks, r.MACs = []string{"D2"}, []string{"02:00:00:00:00:02"} }, true},
		{"everything but the UUID changed", func(r *Raw) {
			r.BoardSerial, r.Disks, r.MACs, r.CPU, r.MemoryGB, r.OSInstallID = "", []string{"D2"}, []string{"02:00:00:00:00:02"}, "cpu2", 64, "os-2"
		}, true},
		{"board unreadable (no root)", func(r *Raw) { r.SystemUUID, r.BoardSerial = "", "" }, false},
		{"board unreadable, disk and NIC swapped", func(r *Raw) {
			r.SystemUUID, r.BoardSerial, r.Disks, r.MACs = "", "", []string{"D2"}, []string{"02:00:00:00:00:02"}
		}, false},
		{"new UUID", func(r *Raw) { r.SystemUUID = "4c4c4544-0043" }, false},
		{"new board serial, UUID unreadable", func(r *Raw) { r.SystemUUID, r.BoardSerial = "", "CN9999" }, false},
	} {
		cur := base
		tc.change(&cur)
		if got := SameBoard(base.Hash(salt), cur.Hash(salt)); got != tc.want {
			t.Errorf("%s: SameBoard = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// CheckFile refuses what collection never produces, and no more: junk
// addresses are dropped like collected ones, repeated disks count once.
func TestCheckFileAsCollected(t *testing.T) {
	nine := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}
	for _, tc := range []struct {
		name string
		raw  Raw
		ok   bool
	}{
		{"junk MAC", Raw{MACs: []string{"00:00:00:00:00:00", "ff-ff-ff-ff-ff-ff"}}, true},
		{"not a MAC", Raw{MACs: []string{"zz:zz"}}, false},
		{"eight disks, one twice", Raw{Disks: append(nine[:8:8], "1")}, true},
		{"nine disks", Raw{Disks: nine}, false},
		{"memory NaN", Raw{MemoryGB: math.NaN()}, false},
	} {
		if err := tc.raw.CheckFile(); (err == nil) != tc.ok {
			t.Errorf("%s: CheckFile = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if p := (Raw{SystemUUID: "x", MACs: []string{"00:00:00:00:00:00"}}).Hash([]byte("s")); len(p.MACs) != 0 {
		t.Errorf("a junk MAC was hashed: %v", p.MACs)
	}
}
