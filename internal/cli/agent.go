package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/echt-dev/echt"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/internal/signing"
	"github.com/echt-dev/echt/problem"
)

// agentFlags are the flags every agent command shares.
type agentFlags struct {
	server   string
	store    string
	hardware string
	product  string
	rootKey  string
	json     bool
	lang     string
	machine  bool
}

func (e *env) addAgentFlags(cmd *cobra.Command, f *agentFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "activation server URL; default: the server this device activated with, else http://127.0.0.1:8080 (env ECHT_SERVER)")
	fl.StringVar(&f.store, "store", "", "license store directory; default: the per-user store of this OS (env ECHT_STORE)")
	fl.BoolVar(&f.machine, "machine", false, "use the per-machine store of this OS (/var/lib/echt, %ProgramData%\\echt, /Library/Application Support/echt): a licence for every user")
	fl.StringVar(&f.hardware, "hardware", "", "read hardware components from this JSON file instead of the machine, see docs/hardware.md (env ECHT_HARDWARE_FILE)")
	fl.StringVar(&f.product, "product", "", "product id (env ECHT_PRODUCT)")
	fl.StringVar(&f.rootKey, "root-key", "", "the publisher's root public key (base64); default: trust the server's on first use and pin it (env ECHT_ROOT_KEY)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object")
	fl.StringVar(&f.lang, "lang", "", "language of explanations (en, nl); default from LANG")
}

// readAtMost reads a whole file of at most max bytes; a larger one is an
// error that says so, read no further.
func readAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d KiB, too large for a hardware profile: give the JSON object of docs/hardware.md", path, max>>10)
	}
	return b, nil
}

// maxHardwareFile bounds a --hardware file: the largest profile it can
// describe takes a few kilobytes.
const maxHardwareFile = 64 << 10

// readHardwareFile parses a --hardware file strictly.
func readHardwareFile(path string) (hardware.Raw, error) {
	b, err := readAtMost(path, maxHardwareFile)
	if err != nil {
		return hardware.Raw{}, usagef("hardware file (--hardware or ECHT_HARDWARE_FILE): %v", err)
	}
	fields := "fields: " + strings.Join(hardware.RawFields, ", ") + "; see docs/hardware.md"
	// Windows editors may start a UTF-8 file with a byte order mark.
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return hardware.Raw{}, usagef("hardware file %s: must hold one JSON object (%s)", path, fields)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r hardware.Raw
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			err = fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.As(err, &te) && te.Field == "":
			err = errors.New("must hold one JSON object")
		case errors.As(err, &te):
			err = fmt.Errorf("%s must be %s", te.Field, map[bool]string{true: "a number", false: "text (a list of texts for disks and macs)"}[te.Field == "memory_gb"])
		}
		return hardware.Raw{}, usagef("hardware file %s: %v (%s)", path, err, fields)
	}
	if _, err := dec.Token(); err != io.EOF {
		return hardware.Raw{}, usagef("hardware file %s: must hold one JSON object and nothing after it", path)
	}
	// encoding/json matches field names in any case; the file's format
	// is the lower-case names exactly, so that a typo is caught.
	seen := map[string]bool{}
	for _, name := range objectKeys(b) {
		if !slices.Contains(hardware.RawFields, name) {
			return hardware.Raw{}, usagef("hardware file %s: unknown field %q (%s)", path, name, fields)
		}
		if seen[name] {
			return hardware.Raw{}, usagef("hardware file %s: field %q given twice", path, name)
		}
		seen[name] = true
	}
	if err := r.CheckFile(); err != nil {
		return hardware.Raw{}, usagef("hardware file %s: %v", path, err)
	}
	return r, nil
}

// objectKeys returns the member names of the JSON object in b, in order
// and with repeats (b has been decoded already, so it is valid).
func objectKeys(b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return names
		}
		name, _ := t.(string)
		names = append(names, name)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return names
		}
	}
	return names
}

func (e *env) agentClient(f *agentFlags, product string) (*echt.Client, error) {
	f.server = strings.TrimSpace(f.server)
	if f.lang != "" && !slices.Contains(reasons.Languages(), strings.ToLower(f.lang)) {
		return nil, usagef("--lang %q: explanations exist in %s", f.lang, strings.Join(reasons.Languages(), ", "))
	}
	dir := f.store
	if dir != "" && f.machine {
		return nil, usagef("give either --store DIR or --machine, not both")
	}
	if dir == "" {
		scope := echt.UserScope
		if f.machine {
			scope = echt.MachineScope
		}
		var err error
		if dir, err = echt.DefaultStoreDir(scope); err != nil {
			return nil, err
		}
	}
	cfg := echt.Config{Server: f.server, Product: product, StoreDir: dir, Lang: e.language(f)}
	if f.rootKey != "" {
		k, err := signing.DecodePublicKey(f.rootKey)
		if err != nil {
			return nil, usagef("--root-key: %v", err)
		}
		cfg.RootKey = k
	} else {
		cfg.TrustOnFirstUse = true
	}
	if f.hardware != "" {
		raw, err := readHardwareFile(f.hardware)
		if err != nil {
			return nil, err
		}
		cfg.Hardware = func(context.Context) (echt.Hardware, error) { return raw, nil }
	}
	if cfg.Server == "" {
		cfg.Server = echt.LastServer(dir, product)
	}
	if cfg.Server == "" {
		cfg.Server = "http://127.0.0.1:8080"
	}
	if err := checkServerURL(cfg.Server); err != nil {
		return nil, err
	}
	cfg.Now = clock()
	c, err := echt.NewClient(cfg)
	if err != nil {
		// Only the command line's values can be wrong here.
		return nil, usagef("%s", strings.TrimPrefix(err.Error(), "echt: "))
	}
	return c, nil
}

// tr returns the agent's text key (internal/reasons/ui) in lang,
// formatted with args.
func tr(lang, key string, args ...any) string {
	return fmt.Sprintf(reasons.UI(lang, key), args...)
}

// labels returns a labeller for a block of the agent's output: each label
// (internal/reasons/ui) in lang with its colon, padded to one column, one
// space past the longest label of the block.
func labels(lang string, keys ...string) func(key string) string {
	width := 0
	for _, k := range keys {
		width = max(width, utf8.RuneCountInString(reasons.UI(lang, k))+2)
	}
	return func(key string) string {
		return fmt.Sprintf("%-*s", width, reasons.UI(lang, key)+":")
	}
}

func (e *env) language(f *agentFlags) string {
	if f.lang != "" {
		return reasons.Negotiate(f.lang, "")
	}
	lang := e.getenv("LC_ALL")
	if lang == "" {
		lang = e.getenv("LANG")
	}
	base, _, _ := strings.Cut(lang, "_")
	return reasons.Negotiate(base, "")
}

func (e *env) agentCmds() []*cobra.Command {
	return []*cobra.Command{e.activateCmd(), e.deactivateCmd(), e.statusCmd(), e.validateCmd(), e.watchCmd(), e.hwidCmd()}
}

// activateOutput is the JSON of echt activate (a contract).
type activateOutput struct {
	ActivationID string    `json:"activation_id"`
	Reason       string    `json:"reason"`
	Detail       string    `json:"detail,omitempty"`
	Remedy       string    `json:"remedy,omitempty"`
	Product      string    `json:"product,omitempty"`
	Edition      string    `json:"edition,omitempty"`
	SKU          string    `json:"sku,omitempty"`
	Channel      string    `json:"channel,omitempty"`
	PartialKey   string    `json:"partial_key,omitempty"`
	NotAfter     time.Time `json:"not_after,omitzero"`
}

func (e *env) activateCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "activate [KEY]",
		Short: "Activate this device with a product key, or with its digital license",
		Long: `Activate this device. With a product key, the key is bound to this device.
Without one, the device's digital license for --product is used (a device
that activated before, for example before a reinstall, needs no key).
A key typed in groups without quotes (echt activate H2FT9 W8R63 ...) is
read as one key.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Spaces in a key do not matter, so its groups may come as
			// separate arguments when together they make one key.
			key := strings.Join(args, " ")
			var argErr error
			if len(args) > 1 && len(productkey.Normalize(key)) != productkey.Len {
				argErr = usagef("activate takes at most 1 product key, got %d arguments (a key typed in groups is fine when its groups make one %d-character key; put it in quotes otherwise)", len(args), productkey.Len)
			}
			fail := func(err error) error {
				return e.agentFailure(&f, err, func(code problem.Code, detail, remedy string) any {
					return activateOutput{Reason: string(code), Detail: detail, Remedy: remedy}
				})
			}
			if argErr != nil {
				return fail(argErr)
			}
			if productkey.Normalize(key) == "" {
				key = "" // a blank key field: no key
			}
			if key == "" && f.product == "" {
				return fail(usagef("give a product key, or --product ID to use this device's digital license"))
			}
			c, err := e.agentClient(&f, f.product)
			if err != nil {
				return fail(err)
			}
			f.server = c.Server()
			var act *echt.Activation
			if key == "" {
				act, err = c.ActivateDigital(cmd.Context())
			} else {
				act, err = c.ActivateProduct(cmd.Context(), key, f.product)
			}
			if err != nil {
				return fail(err)
			}
			if f.json {
				return e.printJSON(activateOutput{ActivationID: act.ActivationID, Reason: string(act.Reason), Product: act.Product, Edition: act.Edition, SKU: act.SKU, Channel: act.Channel, PartialKey: act.PartialKey, NotAfter: act.NotAfter})
			}
			lang := e.language(&f)
			said := "agent_activated"
			switch act.Reason {
			case problem.AlreadyActivated:
				said = "agent_already_activated"
			case problem.DigitalLicense:
				said = "agent_digital_license"
			}
			fmt.Fprintln(e.stdout, tr(lang, said, act.License.ProductName, act.Edition, act.PartialKey))
			label := labels(lang, "agent_activation_id", "agent_valid_until")
			fmt.Fprintf(e.stdout, "%s%s\n", label("agent_activation_id"), act.ActivationID)
			if !act.NotAfter.IsZero() {
				fmt.Fprintf(e.stdout, "%s%s\n", label("agent_valid_until"), act.NotAfter.Local().Format(time.DateTime))
			}
			return nil
		},
	}
	e.addAgentFlags(cmd, &f)
	return cmd
}

// agentFailure reports an agent error: JSON on stdout with --json, a
// message with the code and what to do on stderr otherwise; the exit code
// is the code's.
func (e *env) agentFailure(f *agentFlags, err error, jsonOf func(code problem.Code, detail, remedy string) any) error {
	var ue usageError
	if errors.As(err, &ue) {
		if f.json {
			// A script reading stdout still gets one JSON object; the
			// message for people stays on stderr.
			_ = e.printJSON(jsonOf(problem.InvalidRequest, ue.msg, usageRemedy))
			e.usageMessage(err)
			return exitError{code: exitUsage}
		}
		return err
	}
	code, detail := codeAndDetail(err)
	var pe *problem.Error
	errors.As(err, &pe)
	lang := e.language(f)
	remedy := agentRemedy(code, lang, f.product)
	if pe != nil && lang == reasons.DefaultLang {
		// The server's own advice for this failure (problem member
		// "hint", in English); its errors reach here only with the
		// publisher's signature verified.
		if h, ok := pe.Extra["hint"].(string); ok && h != "" {
			remedy = h
		}
	}
	if h := echt.Hint(err); h != "" {
		remedy = h
	}
	if f.json {
		_ = e.printJSON(jsonOf(code, detail, remedy))
	} else {
		label := labels(lang, "agent_detail", "agent_what_to_do", "agent_more_help")
		if entry, ok := reasons.Lookup(code, lang); ok && entry.Lang == lang && lang != reasons.DefaultLang {
			// The code's title in the reader's language; the detail
			// (the server's or the SDK's, in English) below it.
			fmt.Fprintf(e.stderr, "echt: %s: %s.\n", code, entry.Title)
			if detail != "" && detail != entry.Title {
				fmt.Fprintf(e.stderr, "  %s%s\n", label("agent_detail"), detail)
			}
		} else {
			fmt.Fprintf(e.stderr, "echt: %s: %s\n", code, detail)
		}
		if remedy != "" {
			fmt.Fprintf(e.stderr, "  %s%s\n", label("agent_what_to_do"), remedy)
		}
		// No link into a server that is unreachable or not trusted.
		if f.server != "" && code != problem.ServerUnreachable && code != problem.ServerUntrusted {
			fmt.Fprintf(e.stderr, "  %s%s\n", label("agent_more_help"), helpLink(f.server, "errors", code, lang))
		}
	}
	return exitError{code: code.ExitCode()}
}

func (e *env) deactivateCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "deactivate",
		Short: "Release this device's activation so the key can move to another device",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var product, id string
			fail := func(err error) error {
				return e.agentFailure(&f, err, func(code problem.Code, detail, remedy string) any {
					return deactivateJSON(product, id, code, detail, remedy)
				})
			}
			product, err := e.pickProduct(&f)
			if err != nil {
				return fail(err)
			}
			f.product = product
			c, err := e.agentClient(&f, product)
			if err != nil {
				return fail(err)
			}
			f.server = c.Server()
			id = c.ActivationOf(product)
			// The product's name, as the license gives it, for the person.
			name := product
			if st, err := c.StatusProduct(cmd.Context(), product); err == nil && st.ProductName != "" {
				name = strings.TrimSpace(st.ProductName + " " + st.Edition)
			}
			if err := c.DeactivateProduct(cmd.Context(), product); err != nil {
				return fail(err)
			}
			if f.json {
				return e.printJSON(deactivateJSON(product, id, "DEACTIVATED", "", ""))
			}
			fmt.Fprintln(e.stdout, tr(e.language(&f), "agent_deactivated", name))
			return nil
		},
	}
	e.addAgentFlags(cmd, &f)
	return cmd
}

// pickProduct returns --product, or the only product in the store.
func (e *env) pickProduct(f *agentFlags) (string, error) {
	ps, err := e.storeProducts(f)
	if err != nil {
		return "", err
	}
	if len(ps) > 1 {
		return "", usagef("this device holds licenses of several products (%s): choose one with --product", strings.Join(ps, ", "))
	}
	return ps[0], nil
}

// storeProducts returns --product, or every product in the store (at
// least one).
func (e *env) storeProducts(f *agentFlags) ([]string, error) {
	if f.product != "" {
		return []string{f.product}, nil
	}
	c, err := e.agentClient(f, "")
	if err != nil {
		return nil, err
	}
	ps, err := c.Products()
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, problem.New(problem.NotActivated, "no product is activated on this device: activate one first (echt activate KEY)")
	}
	return ps, nil
}

// statusOfEach is echt status on a device holding several products and no
// --product: each product's status in turn. Its JSON is one object with
// the fields of a status (the contract) for the device as a whole, GENUINE
// when every product it holds is (a product deactivated here, now
// NOT_ACTIVATED, does not count unless none is held), else the first
// product that is not, and each product's own status under "products".
// The exit status is that of the product the whole is judged by.
func (e *env) statusOfEach(ctx context.Context, f *agentFlags, products []string, product *string) error {
	var all []*echt.Status
	var servers []string
	var first *echt.Status
	lang := e.language(f)
	for _, p := range products {
		*product = p
		c, err := e.agentClient(f, p)
		if err != nil {
			return err
		}
		st, err := c.StatusProduct(ctx, p)
		if err != nil {
			return err
		}
		servers = append(servers, c.Server())
		relocalize(st, lang)
		if st.Status != echt.StatusGenuine && st.Remedy == nil {
			st.Remedy = &echt.Remedy{ID: reasons.RemedyID(st.Reason), Text: agentRemedy(st.Reason, lang, st.Product)}
		}
		all = append(all, st)
	}
	// A product deactivated here (NOT_ACTIVATED) is listed, but the device
	// is judged by the products it holds; by it only if it holds none.
	for _, st := range all {
		if st.Status != echt.StatusGenuine && st.Status != echt.StatusNotActivated {
			first = st
			break
		}
	}
	if first == nil && !slices.ContainsFunc(all, func(st *echt.Status) bool { return st.Status == echt.StatusGenuine }) {
		first = all[0]
	}
	*product = ""
	if f.json {
		out := map[string]any{"status": echt.StatusGenuine, "reason": problem.Genuine, "product": "", "edition": "", "partial_key": "", "products": all}
		if first != nil {
			out["status"], out["reason"], out["detail"], out["remedy"] = first.Status, first.Reason, first.Detail, first.Remedy
		}
		if err := e.printJSON(out); err != nil {
			return err
		}
	} else {
		for i, st := range all {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			f.server = servers[i] // the server of a stored verdict
			_ = e.printStatus(f, st)
		}
	}
	if first != nil {
		return exitError{code: first.Reason.ExitCode()}
	}
	return nil
}

func (e *env) statusCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say whether this copy is genuine, offline, and how to fix it if not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var product string
			fail := e.statusFailure(&f, &product)
			products, err := e.storeProducts(&f)
			if err != nil {
				return fail(err)
			}
			if len(products) > 1 {
				err := e.statusOfEach(cmd.Context(), &f, products, &product)
				if err != nil && !errors.As(err, new(exitError)) {
					return fail(err)
				}
				return err
			}
			product = products[0]
			f.product = product
			c, err := e.agentClient(&f, product)
			if err != nil {
				return fail(err)
			}
			f.server = c.Server() // the server of a stored verdict
			st, err := c.StatusProduct(cmd.Context(), product)
			if err != nil {
				return fail(err)
			}
			relocalize(st, e.language(&f))
			return e.printStatus(&f, st)
		},
	}
	e.addAgentFlags(cmd, &f)
	return cmd
}

// relocalize gives a verdict stored on the device, made in the language of
// its time, the catalogue's remedy in the reader's language.
func relocalize(st *echt.Status, lang string) {
	if st.Remedy == nil || st.Remedy.ID != reasons.RemedyID(st.Reason) {
		return
	}
	if entry, ok := reasons.Lookup(st.Reason, lang); !ok || entry.Lang != lang {
		return
	}
	if st.Detail == st.Remedy.Text {
		st.Detail = ""
	}
	st.Remedy = &echt.Remedy{ID: st.Remedy.ID, Text: agentRemedy(st.Reason, lang, st.Product) + reasons.NamedKey(st.Remedy.Text)}
}

// remedyOf is a status's remedy in lang: the server's, relocalised.
func remedyOf(st *echt.Status, lang string) string {
	cp := *st
	relocalize(&cp, lang)
	if cp.Remedy != nil && cp.Remedy.Text != "" {
		return cp.Remedy.Text
	}
	return agentRemedy(st.Reason, lang, st.Product)
}

// sentence starts s with a capital letter and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// agentRemedy is the remedy of a code for the person at this device: the
// product named where the catalogue says --product ID, and no admin
// commands.
func agentRemedy(code problem.Code, lang, product string) string {
	if code == problem.ProductNotFound {
		return tr(lang, "agent_check_product")
	}
	r := reasons.Remedy(code, lang)
	if product != "" {
		r = strings.ReplaceAll(r, "--product ID", "--product "+product)
	}
	return r
}

// statusFailure reports a status or validate command that reached no
// verdict. Its status follows the reason: positive evidence is NOT_GENUINE,
// a missing activation NOT_ACTIVATED, and anything else (a bad store or
// hardware file, no server and no pinned key) UNKNOWN: a failure is never
// evidence against the copy.
func (e *env) statusFailure(f *agentFlags, product *string) func(error) error {
	return func(err error) error {
		return e.agentFailure(f, err, func(code problem.Code, detail, remedy string) any {
			return statusFailureJSON(code, *product, detail, remedy)
		})
	}
}

// statusFailureJSON is the JSON of a status, validate or watch command
// that reached no verdict: the fields of echt.Status that scripts rely on
// (a contract), empty where unknown.
func statusFailureJSON(code problem.Code, product, detail, remedy string) map[string]any {
	return map[string]any{"status": failureStatus(code), "reason": string(code), "detail": detail, "product": product, "edition": "", "partial_key": "",
		"remedy": echt.Remedy{ID: reasons.RemedyID(code), Text: remedy}}
}

// deactivateJSON is the JSON of echt deactivate.
func deactivateJSON(product, activationID string, code problem.Code, detail, remedy string) map[string]string {
	out := map[string]string{"product": product, "activation_id": activationID, "reason": string(code)}
	if detail != "" || remedy != "" {
		out["detail"], out["remedy"] = detail, remedy
	}
	return out
}

// usageJSON is the JSON a command prints for a mistake in its command
// line, in the shape of that command's own output.
func usageJSON(command, detail string) any {
	switch command {
	case "activate":
		return activateOutput{Reason: string(problem.InvalidRequest), Detail: detail, Remedy: usageRemedy}
	case "deactivate":
		return deactivateJSON("", "", problem.InvalidRequest, detail, usageRemedy)
	case "status", "validate", "watch":
		return statusFailureJSON(problem.InvalidRequest, "", detail, usageRemedy)
	}
	return map[string]string{"reason": string(problem.InvalidRequest), "detail": detail, "remedy": usageRemedy}
}

// statusUnknown is the status of --json output when no check could be
// made at all.
const statusUnknown = "UNKNOWN"

func failureStatus(code problem.Code) string {
	switch code {
	case problem.KeyBlocked, problem.ActivationRevoked, problem.KeyInUseElsewhere, problem.LicenseExpired, problem.HardwareChanged,
		problem.LicenseTampered, problem.ProductMismatch, problem.LicenseMissing, problem.ClockTampered, problem.ReactivatedWithOtherKey:
		return echt.StatusNotGenuine
	case problem.NotActivated, problem.NoDigitalLicense, problem.ActivationNotFound:
		return echt.StatusNotActivated
	}
	return statusUnknown
}

// helpLink is the address of a code's help page on server, in lang.
func helpLink(server, kind string, code problem.Code, lang string) string {
	return strings.TrimRight(server, "/") + "/help/" + kind + "/" + string(code) + "?lang=" + url.QueryEscape(lang)
}

// printStatus prints a status (the JSON of echt status and echt validate
// is the echt.Status object, a contract) and returns the exit error for
// anything but GENUINE.
func (e *env) printStatus(f *agentFlags, st *echt.Status) error {
	lang := e.language(f)
	if st.Status != echt.StatusGenuine && st.Remedy == nil {
		st.Remedy = &echt.Remedy{ID: reasons.RemedyID(st.Reason), Text: agentRemedy(st.Reason, lang, st.Product)}
	}
	if f.json {
		if err := e.printJSON(st); err != nil {
			return err
		}
	} else {
		entry, _ := reasons.Lookup(st.Reason, lang)
		label := labels(lang, "agent_product_key", "agent_activation_id", "agent_valid_until", "agent_activate_by",
			"agent_what_to_do", "agent_note", "agent_details", "agent_next_check", "agent_more_help", "agent_detail")
		name := firstNonEmpty(st.ProductName, st.Product)
		where := tr(lang, "agent_offline_check")
		if st.Online {
			where = tr(lang, "agent_verdict_of", strings.TrimRight(f.server, "/"))
		}
		fmt.Fprintf(e.stdout, "%s: %s (%s; %s)\n", strings.TrimSpace(name+" "+st.Edition), st.Status, st.Reason, where)
		if entry.Title != "" && st.Status != echt.StatusGenuine {
			fmt.Fprintf(e.stdout, "  %s.", entry.Title)
			// A grace period's detail is its end, shown below in the
			// reader's language.
			graceEnd := st.Status == echt.StatusGrace && !st.GraceUntil.IsZero()
			showDetail := st.Detail != "" && (st.Remedy == nil || st.Detail != st.Remedy.Text) && !graceEnd
			translated := entry.Lang == lang && lang != reasons.DefaultLang
			if showDetail && !translated {
				fmt.Fprintf(e.stdout, " %s", sentence(st.Detail))
			}
			fmt.Fprintln(e.stdout)
			if showDetail && translated {
				// The title in the reader's language; the detail (the
				// SDK's or the server's, in English) on a line of its own.
				fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_detail"), st.Detail)
			}
		}
		if st.PartialKey != "" {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_product_key"), st.PartialKey)
		}
		if st.ActivationID != "" {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_activation_id"), st.ActivationID)
		}
		if !st.NotAfter.IsZero() {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_valid_until"), st.NotAfter.Local().Format(time.DateTime))
		}
		if !st.GraceUntil.IsZero() && st.Status == echt.StatusGrace {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_activate_by"), st.GraceUntil.Local().Format(time.DateTime))
		}
		if st.Remedy != nil && st.Remedy.Text != "" && st.Status != echt.StatusGenuine {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_what_to_do"), st.Remedy.Text)
			for i, step := range entry.Steps {
				if st.Product != "" {
					step = strings.ReplaceAll(step, "--product ID", "--product "+st.Product)
				}
				fmt.Fprintf(e.stdout, "    %d. %s\n", i+1, step)
			}
		}
		if st.ServerError != "" {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_note"), tr(lang, "agent_server_not_asked", st.ServerError))
		}
		if st.StoreError != "" {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_note"), tr(lang, "agent_verdict_not_stored", st.StoreError))
		}
		switch {
		case st.ResultsURL != "":
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_details"), st.ResultsURL)
		case st.Status != echt.StatusGenuine && f.server != "":
			// A local finding has no results page; its help page says
			// the same in full.
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_more_help"), helpLink(f.server, "reasons", st.Reason, lang))
		}
		if !st.NextCheck.IsZero() {
			fmt.Fprintf(e.stdout, "  %s%s\n", label("agent_next_check"), st.NextCheck.Local().Format(time.DateTime))
		}
	}
	if st.Status == echt.StatusGenuine {
		return nil
	}
	return exitError{code: st.Reason.ExitCode()}
}

func (e *env) validateCmd() *cobra.Command {
	var f agentFlags
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Ask the server whether this copy is genuine (or check offline)",
		Long: `Validate this copy online: the server checks the key and the activation still
stand and answers a signed verdict with the reason and the remedy, and a
link to a results page. With --offline, only the local check runs. Exit
status 0 only for GENUINE. When the server cannot be reached, the offline
check is shown with a note: a copy is never declared not genuine because a
server failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var product string
			fail := e.statusFailure(&f, &product)
			product, err := e.pickProduct(&f)
			if err != nil {
				return fail(err)
			}
			f.product = product
			c, err := e.agentClient(&f, product)
			if err != nil {
				return fail(err)
			}
			f.server = c.Server()
			var st *echt.Status
			if offline {
				st, err = c.StatusProduct(cmd.Context(), product)
			} else {
				st, err = c.ValidateProduct(cmd.Context(), product)
			}
			if err != nil {
				return fail(err)
			}
			return e.printStatus(&f, st)
		},
	}
	e.addAgentFlags(cmd, &f)
	cmd.Flags().BoolVar(&offline, "offline", false, "check only locally: signature, device, time window and files")
	return cmd
}

func (e *env) hwidCmd() *cobra.Command {
	var f agentFlags
	var raw bool
	cmd := &cobra.Command{
		Use:   "hwid",
		Short: "Print this device's hardware profile (hashed as the server sees it)",
		Long: `Print this device's hardware profile: which components were found and
their salted hashes as sent to the server. With --product the product's salt
is used: the one kept in the store of a product activated through the same
--server (no server needed), else fetched from the server. Without, the
hashes are unsalted and for support only. --raw also prints the raw values, which never leave the
device otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r hardware.Raw
			var err error
			if f.hardware != "" {
				r, err = readHardwareFile(f.hardware)
			} else {
				r, err = hardware.Collect(cmd.Context())
			}
			if err != nil {
				return err
			}
			var salt []byte
			if f.product != "" {
				c, err := e.agentClient(&f, f.product)
				if err != nil {
					return err
				}
				if salt, err = c.HardwareSalt(cmd.Context(), f.product); err != nil {
					return e.agentFailure(&f, err, func(code problem.Code, detail, remedy string) any {
						return map[string]string{"product": f.product, "reason": string(code), "detail": detail, "remedy": remedy}
					})
				}
			}
			p := r.Hash(salt)
			if f.json {
				out := map[string]any{"product": f.product, "profile": p, "identifiable": p.Validate() == nil}
				if raw {
					out["raw"] = r
				}
				return e.printJSON(out)
			}
			show := func(name string, hashes []string, rawv string) {
				if len(hashes) == 0 {
					fmt.Fprintf(e.stdout, "%-14s (not found)\n", name)
					return
				}
				fmt.Fprintf(e.stdout, "%-14s %s", name, strings.Join(hashes, " "))
				if raw && rawv != "" {
					fmt.Fprintf(e.stdout, "   [%s]", rawv)
				}
				fmt.Fprintln(e.stdout)
			}
			one := func(s string) []string {
				if s == "" {
					return nil
				}
				return []string{s}
			}
			show("system_uuid", one(p.SystemUUID), r.SystemUUID)
			show("board_serial", one(p.BoardSerial), r.BoardSerial)
			show("disks", p.Disks, strings.Join(r.Disks, ", "))
			show("macs", p.MACs, strings.Join(r.MACs, ", "))
			show("cpu", one(p.CPU), r.CPU)
			show("memory", one(p.Memory), strconv.FormatFloat(math.Round(r.MemoryGB*10)/10, 'f', -1, 64)+" GB")
			show("os_install_id", one(p.OSInstallID), r.OSInstallID)
			if err := p.Validate(); err != nil {
				fmt.Fprintf(e.stdout, "\nwarning: %v\n", err)
			}
			if salt == nil {
				fmt.Fprintln(e.stdout, "\n(unsalted: pass --product ID for the hashes the server sees)")
			}
			return nil
		},
	}
	e.addAgentFlags(cmd, &f)
	cmd.Flags().BoolVar(&raw, "raw", false, "also print raw component values")
	return cmd
}

func (e *env) watchCmd() *cobra.Command {
	var f agentFlags
	var interval time.Duration
	var escalate time.Duration
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Keep checking this copy and remind the user while it is not genuine",
		Long: `Check this copy at start and every reminder interval (the SKU's, 60 minutes
by default), validating online when the last verdict says so. While the
copy is not genuine, show a desktop notification (notify-send on Linux,
where available) or print a reminder, stronger after the SKU's escalation
period. A check that finds the copy genuine (or in its grace period) prints a
line when that outcome is new. Nothing ever deletes or locks the user's data.
--interval is at least 1s. Stop with Ctrl-C.

With --json, each reminder is one JSON object on its own line (reminder,
escalated, status, reason, remedy, results_url, at).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval < 0 || escalate < 0 {
				return usagef("--interval and --escalate-after must not be negative (0 takes the SKU's)")
			}
			if interval > 0 && interval < time.Second {
				return usagef("--interval %v: at least 1s (0 takes the SKU's reminder interval)", interval)
			}
			product, err := e.pickProduct(&f)
			if err != nil {
				return err
			}
			c, err := e.agentClient(&f, product)
			if err != nil {
				return err
			}
			f.server = c.Server()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			lang := e.language(&f)
			// Without --json, a check that finds the copy genuine (or in
			// its grace period), which reminds of nothing, says so when its
			// outcome changes: a genuine copy's watch is seen to run.
			var last string
			onCheck := func(st *echt.Status) {
				if f.json || (st.Status != echt.StatusGenuine && st.Status != echt.StatusGrace) || st.Status+string(st.Reason) == last {
					last = st.Status + string(st.Reason)
					return
				}
				last = st.Status + string(st.Reason)
				fmt.Fprintf(e.stdout, "%s %s: %s (%s)\n", time.Now().Format(time.TimeOnly), firstNonEmpty(st.ProductName, st.Product), st.Status, st.Reason)
			}
			return c.Watch(ctx, product, echt.WatchOptions{Interval: interval, EscalateAfter: escalate, OnCheck: onCheck}, func(r echt.Reminder) {
				entry, _ := reasons.Lookup(r.Status.Reason, lang)
				title := tr(lang, "agent_not_genuine", firstNonEmpty(r.Status.ProductName, r.Status.Product))
				remedy := remedyOf(r.Status, lang)
				body := firstNonEmpty(entry.Title, string(r.Status.Reason)) + ". " + remedy
				if r.Status.ResultsURL != "" {
					body += " " + r.Status.ResultsURL
				}
				if f.json {
					// A stream: one object per line (JSON Lines).
					enc := json.NewEncoder(e.stdout)
					enc.SetEscapeHTML(false)
					_ = enc.Encode(map[string]any{"reminder": r.Count, "escalated": r.Escalated, "status": r.Status.Status, "reason": r.Status.Reason, "remedy": remedy, "results_url": r.Status.ResultsURL, "at": time.Now().UTC()})
					return
				}
				prefix := tr(lang, "agent_reminder")
				if r.Escalated {
					prefix = strings.ToUpper(prefix)
				}
				fmt.Fprintf(e.stdout, "%s %d: %s (%s): %s\n", prefix, r.Count, title, r.Status.Reason, body)
				notifyDesktop(title, body, r.Escalated)
			})
		},
	}
	e.addAgentFlags(cmd, &f)
	cmd.Flags().DurationVar(&interval, "interval", 0, "time between reminders; default the SKU's reminder interval")
	cmd.Flags().DurationVar(&escalate, "escalate-after", 0, "escalate reminders after this long not genuine; default the SKU's")
	return cmd
}

// notifyDesktop shows a desktop notification where the OS has a way to,
// and does nothing otherwise.
func notifyDesktop(title, body string, urgent bool) {
	if runtime.GOOS != "linux" || os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return
	}
	path, err := exec.LookPath("notify-send")
	if err != nil {
		return
	}
	urgency := "normal"
	if urgent {
		urgency = "critical"
	}
	// A notification service that hangs must not stall the reminders.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, path, "--app-name=echt", "--urgency="+urgency, title, body).Run()
}
