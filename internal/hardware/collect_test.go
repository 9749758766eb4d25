package hardware

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestResult(t *testing.T) {
	errSome := errors.New("permission denied")
	tests := []struct {
		name    string
		raw     Raw
		err     error
		want    Raw
		wantErr error // nil: no error
	}{
		{
			name: "partial read is not an error",
			raw:  Raw{CPU: " GenuineIntel  Intel(R) Xeon(R) ", MemoryGB: 15.6},
			err:  errSome,
			want: Raw{CPU: "GenuineIntel Intel(R) Xeon(R)", MemoryGB: 15.6},
		},
		{
			name: "lists sorted, normalised, without duplicates",
			raw: Raw{
				Disks: []string{" S3Z9 ", "", "ABC", "S3Z9"},
				MACs:  []string{"00-1B-21-3A-4F-5C", "00:1b:21:3a:4f:5c", "00:00:00:00:00:00", "bogus", "00:1b:21:3a:4f:5b"},
			},
			want: Raw{
				Disks: []string{"ABC", "S3Z9"},
				MACs:  []string{"00:1b:21:3a:4f:5b", "00:1b:21:3a:4f:5c"},
			},
		},
		{
			name:    "nothing read",
			raw:     Raw{Disks: []string{" "}, MACs: []string{"not-a-mac"}, MemoryGB: math.NaN()},
			err:     errSome,
			wantErr: errSome,
		},
		{
			name:    "unsupported OS",
			err:     errors.ErrUnsupported,
			wantErr: errors.ErrUnsupported,
		},
		{
			name:    "nothing read, no reason given",
			wantErr: errors.New("any"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := result(tt.raw, tt.err)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("result() error = %v, want nil", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("result() = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("result() = %+v, nil; want an error", got)
			}
			if tt.err != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("result() error = %v, want it to wrap %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, Raw{}) {
				t.Errorf("result() = %+v with error, want zero Raw", got)
			}
		})
	}
}

func TestChooseMAC(t *testing.T) {
	tests := []struct {
		name               string
		permanent, current string
		currentIsPermanent bool
		want               string
	}{
		{"permanent wins", "F8:59:71:AA:BB:CC", "da:a1:19:00:00:01", false, "f8:59:71:aa:bb:cc"},
		{"zero permanent ignored", "00:00:00:00:00:00", "00:1b:21:3a:4f:5c", false, "00:1b:21:3a:4f:5c"},
		{"universal current", "", "00:1b:21:3a:4f:5c", false, "00:1b:21:3a:4f:5c"},
		{"locally administered current, unknown origin", "", "da:a1:19:00:00:01", false, ""},
		{"locally administered current, known permanent", "", "52:54:00:12:34:56", true, "52:54:00:12:34:56"},
		{"no address", "", "", true, ""},
		{"malformed", "", "00:1b:21", false, ""},
		{"shared T2 iBridge address", "", "ac:de:48:00:11:22", true, ""},
		{"shared address as permanent", "ac:de:48:00:11:22", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chooseMAC(tt.permanent, tt.current, tt.currentIsPermanent); got != tt.want {
				t.Errorf("chooseMAC(%q, %q, %v) = %q, want %q", tt.permanent, tt.current, tt.currentIsPermanent, got, tt.want)
			}
		})
	}
}

func TestCPUIDString(t *testing.T) {
	tests := []struct {
		name string
		id   cpuID
		want string
	}{
		{"x86", cpuID{"GenuineIntel", "Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", "6", "142", "10"}, "GenuineIntel Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz family 6 model 142 stepping 10"},
		{"padded brand string", cpuID{vendor: "GenuineIntel", name: "  Intel(R)   Xeon(R)  "}, "GenuineIntel Intel(R) Xeon(R)"},
		{"brand only", cpuID{name: "Apple M1 Pro"}, "Apple M1 Pro"},
		{"empty", cpuID{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.String(); got != tt.want {
				t.Errorf("%+v.String() = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestCollectedRawHashes(t *testing.T) {
	// What collectors return must survive normalisation: a typical Linux
	// result gives every component a hash.
	r, err := result(Raw{
		SystemUUID:  "00112233-4455-6677-8899-aabbccddeeff",
		BoardSerial: "07C0211_K91E123456",
		Disks:       []string{"S3Z9NB0K123456X"},
		MACs:        []string{"00:1b:21:3a:4f:5c"},
		CPU:         "GenuineIntel Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz family 6 model 142 stepping 10",
		MemoryGB:    15.56,
		OSInstallID: "3d1219c7c4c5404aaa1f6d2a48adfda4",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Hash([]byte("salt"))
	if p.SystemUUID == "" || p.BoardSerial == "" || len(p.Disks) != 1 || len(p.MACs) != 1 || p.CPU == "" || p.Memory == "" || p.OSInstallID == "" {
		t.Errorf("Hash(%+v) = %+v, want every component", r, p)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}
