package echt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/echt-dev/echt/internal/flock"
	"github.com/echt-dev/echt/problem"
)

// Scope selects where licenses are kept by default.
type Scope int

const (
	// UserScope keeps licenses in the user's configuration directory:
	// $XDG_CONFIG_HOME/echt (~/.config/echt), %AppData%\echt, or
	// ~/Library/Application Support/echt. (%AppData% roams with a roaming
	// profile: see Config.StoreDir.)
	UserScope Scope = iota
	// MachineScope keeps licenses for every user of the machine:
	// /var/lib/echt, %ProgramData%\echt, or /Library/Application Support/echt.
	MachineScope
)

// DefaultStoreDir returns the default license directory of a scope on this
// operating system.
func DefaultStoreDir(s Scope) (string, error) {
	if s == MachineScope {
		switch runtime.GOOS {
		case "windows":
			pd := os.Getenv("ProgramData")
			if pd == "" {
				pd = `C:\ProgramData`
			}
			return filepath.Join(pd, "echt"), nil
		case "darwin":
			return "/Library/Application Support/echt", nil
		default:
			return "/var/lib/echt", nil
		}
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", problem.Newf(problem.StoreCorrupt, "this user has no configuration directory to keep licenses in (%v): set HOME, give a store directory (the agent's --store DIR, the SDK's Config.StoreDir), or use the machine-wide store (--machine)", err)
	}
	return filepath.Join(dir, "echt"), nil
}

const (
	licenseFile = "license.json"
	stateFile   = "state.json"
	stateFormat = "echt-state/1"
)

// state is the device's record of a product's license, beside the license
// file. Its checksum detects corruption; the license itself is signed.
type state struct {
	Format        string    `json:"format"`
	Product       string    `json:"product"`
	Server        string    `json:"server,omitempty"`
	RootKey       []byte    `json:"root_key,omitempty"`
	HardwareSalt  []byte    `json:"hardware_salt,omitempty"`
	LicenseSHA256 string    `json:"license_sha256,omitempty"`
	ActivationID  string    `json:"activation_id,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	// Verdict is the last signed online verdict, if any.
	Verdict json.RawMessage `json:"verdict,omitempty"`
	// NotGenuineSince is when the device was first seen not genuine.
	NotGenuineSince time.Time `json:"not_genuine_since,omitzero"`
	// DeactivatedAt is when this device released its activation: the copy
	// is then not activated, with no new grace period.
	DeactivatedAt time.Time `json:"deactivated_at,omitzero"`
	// GraceDays is the publisher's grace period for this copy, asked of
	// the server at its first check (nil: not known; 30 days apply).
	GraceDays *int   `json:"grace_days,omitempty"`
	Checksum  string `json:"checksum"`
}

func (s *state) sum() string {
	c := *s
	c.Checksum = ""
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// localStore is one product's directory in the license store.
type localStore struct {
	dir string
}

// files is what the store holds, and how intact it is.
type files struct {
	license      []byte // nil: no license file
	st           *state // nil: no state file, or a damaged one (stateCorrupt)
	stateCorrupt bool
}

func (ls localStore) read() (files, error) {
	var f files
	b, err := os.ReadFile(filepath.Join(ls.dir, licenseFile))
	switch {
	case err == nil:
		f.license = b
	case errors.Is(err, fs.ErrNotExist):
	default:
		return f, fmt.Errorf("read license: %w", err)
	}
	b, err = os.ReadFile(filepath.Join(ls.dir, stateFile))
	switch {
	case err == nil:
		var s state
		if json.Unmarshal(b, &s) != nil || s.Format != stateFormat || s.Checksum != s.sum() {
			f.stateCorrupt = true
		} else {
			f.st = &s
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return f, fmt.Errorf("read license state: %w", err)
	}
	return f, nil
}

// lockName is the lock file in a product's directory.
const lockName = ".lock"

// locked runs fn with what the store holds now, under the store's lock (a
// lock file in the product's directory): checks, activations, validations
// and deactivations by one Client, by several, or by several processes (an
// application and echt watch) read and write the files one at a time, so
// that none writes a state over one it has not seen. Where the lock file
// cannot be made (a store that cannot be written) fn runs without it: it
// cannot write either.
func (ls localStore) locked(fn func(cur files) error) error {
	if err := os.MkdirAll(ls.dir, 0o700); err == nil {
		if lf, err := os.OpenFile(filepath.Join(ls.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			defer lf.Close()
			// A file system without locks (NFS without a lock daemon, a
			// platform without flock) runs fn without one, as before.
			_ = flock.Lock(lf)
		}
	}
	cur, err := ls.read()
	if err != nil {
		return err
	}
	return fn(cur)
}

// sameLicense reports whether two readings of the store hold the same
// license, named by their states.
func sameLicense(a, b files) bool {
	return bytes.Equal(a.license, b.license) && a.st != nil && b.st != nil && a.st.LicenseSHA256 == b.st.LicenseSHA256
}

// sameState reports whether two readings of the store are the same.
func sameState(a, b files) bool {
	return bytes.Equal(a.license, b.license) && a.stateCorrupt == b.stateCorrupt && (a.st == nil) == (b.st == nil) && (a.st == nil || a.st.Checksum == b.st.Checksum)
}

func (ls localStore) writeState(s *state) error {
	s.Format = stateFormat
	s.Checksum = s.sum()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(ls.dir, stateFile), append(b, '\n'))
}

// save writes a new license and the state that names it. The license is
// written first: a crash in between leaves a state that names the previous
// license, which reads as tampered until the next activation — never a
// state that vouches for a file that is not there.
func (ls localStore) save(lic []byte, s *state) error {
	if err := os.MkdirAll(ls.dir, 0o700); err != nil {
		return fmt.Errorf("create license store: %w", err)
	}
	if err := writeAtomic(filepath.Join(ls.dir, licenseFile), lic); err != nil {
		return fmt.Errorf("write license: %w", err)
	}
	h := sha256.Sum256(lic)
	s.LicenseSHA256 = hex.EncodeToString(h[:])
	if err := ls.writeState(s); err != nil {
		return fmt.Errorf("write license state: %w", err)
	}
	return nil
}

// writable checks, before a seat is spent, that the license can be saved.
func (ls localStore) writable() error {
	if err := os.MkdirAll(ls.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(ls.dir, ".probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// removeLicense deletes the license, keeping the state (first seen, trust).
func (ls localStore) removeLicense(s *state) error {
	s.LicenseSHA256, s.ActivationID, s.Verdict, s.NotGenuineSince = "", "", nil, time.Time{}
	if err := ls.writeState(s); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(ls.dir, licenseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// disagree reports whether a reading of the store holds a license and a
// state that do not name each other: tampering, or a reading taken while an
// activation or deactivation (under the store's lock) was between its two
// writes.
func (f files) disagree() bool {
	switch {
	case f.license != nil && f.st != nil:
		return !licenseMatches(f.license, f.st)
	case f.license != nil:
		return !f.stateCorrupt
	case f.st != nil:
		return f.st.LicenseSHA256 != ""
	}
	return false
}

// readSettled reads the store; a reading whose license and state disagree
// is taken again under the store's lock, after any activation or
// deactivation in progress, so that only a store that stays so reads as
// tampered.
func (ls localStore) readSettled() (files, error) {
	f, err := ls.read()
	if err != nil || !f.disagree() {
		return f, err
	}
	err = ls.locked(func(cur files) error {
		f = cur
		return nil
	})
	return f, err
}

func licenseMatches(lic []byte, s *state) bool {
	h := sha256.Sum256(lic)
	want, err := hex.DecodeString(s.LicenseSHA256)
	return err == nil && bytes.Equal(h[:], want)
}

// writeAtomic writes via a synced temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LastServer returns the server a product was last activated with in the
// license store dir, or "". With no product it returns the server all the
// store's products name, or "" when they name different ones.
func LastServer(dir, product string) string {
	if product == "" {
		// No product named: the one server every product in the store
		// was activated with, if they agree.
		products, _ := listProducts(dir)
		server := ""
		for _, p := range products {
			s := LastServer(dir, p)
			if s != "" && server != "" && s != server {
				return ""
			}
			if s != "" {
				server = s
			}
		}
		return server
	}
	f, err := localStore{dir: filepath.Join(dir, product)}.read()
	if err != nil || f.st == nil {
		return ""
	}
	return f.st.Server
}

// storeReadError says why a product's license store could not be read,
// naming a file that is in the way when that is the cause.
func storeReadError(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if fi, serr := os.Stat(pe.Path); serr == nil && fi.IsDir() && pe.Path != dir {
			return problem.Wrap(problem.StoreCorrupt, "cannot read "+pe.Path+": it is a directory where the license store keeps a file; move it away, then activate again", err)
		}
	}
	return problem.Wrap(problem.StoreCorrupt, "cannot read the license store "+dir+": it must be a directory this user can read; fix its permissions or choose another license store directory", err)
}
