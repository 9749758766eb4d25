package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/keys"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/problem"
)

type adminFlags struct {
	server string
	token  string
	json   bool
	// tokenFile is the file the token was read from when none was given.
	tokenFile string
}

func (e *env) adminCmd() *cobra.Command {
	var g adminFlags
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage products, SKUs, keys, tokens and the audit log over the API",
		Long: `Manage an echt server over its admin API.

The token comes from --token or ECHT_TOKEN; when neither is set, the admin
token of a server in ./echt-data (or ECHT_DATA) is used if readable.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.server, "server", "http://127.0.0.1:8080", "echt server URL (env ECHT_SERVER)")
	pf.StringVar(&g.token, "token", "", "admin API token (env ECHT_TOKEN)")
	pf.BoolVar(&g.json, "json", false, "print machine-readable JSON: an object per command, lists as arrays")
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		names := map[string]string{}
		for k, v := range envNames {
			if k != "product" {
				names[k] = v
			}
		}
		if err := e.bindEnv(c, names); err != nil {
			return err
		}
		if err := checkServerURL(g.server); err != nil {
			return err
		}
		if g.token == "" {
			g.token, g.tokenFile = e.localAdminToken(g.server)
		}
		return nil
	}
	client := func() *apiClient {
		c := newAPIClient(g.server, g.token)
		c.tokenFile = g.tokenFile
		return c
	}
	cmd.AddCommand(e.productCmd(&g, client), e.skuCmd(&g, client), e.keysCmd(&g, client), e.tokenCmd(&g, client), e.auditCmd(&g, client), e.keyringCmd(&g, client), e.feedbackCmd(&g, client), e.activationsCmd(&g, client), e.backupCmd(&g, client), e.dbCmd(&g))
	return cmd
}

// localAdminToken reads the bootstrap admin token of a server started
// from this directory (ECHT_DATA, else ./echt-data), for a server on this
// machine only: the token is not sent to whatever --server names (a
// mistyped host, a staging server, plain HTTP across a network). It
// returns the token and the file it came from, or "".
func (e *env) localAdminToken(server string) (token, source string) {
	for _, u := range strings.Split(server, ",") {
		if !loopbackURL(strings.TrimSpace(u)) {
			return "", ""
		}
	}
	dir := e.getenv("ECHT_DATA")
	if dir == "" {
		dir = "echt-data"
	}
	path := filepath.Join(dir, "admin-token")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", ""
	}
	return strings.TrimSpace(string(b)), path
}

// loopbackURL reports whether a server URL names this machine.
func loopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (e *env) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func (e *env) productCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "product", Short: "Create and list products"}
	var name string
	create := &cobra.Command{
		Use:   "create ID --name NAME",
		Short: "Create a product",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var p httpapi.ProductView
			if err := client().do(c.Context(), "POST", "/v1/admin/products", map[string]string{"id": args[0], "name": name}, &p); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(p)
			}
			fmt.Fprintf(e.stdout, "created product %s (%s)\n", p.ID, p.Name)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name of the product")
	list := &cobra.Command{
		Use:   "list",
		Short: "List products",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var ps []httpapi.ProductView
			if err := client().do(c.Context(), "GET", "/v1/admin/products", nil, &ps); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(ps)
			}
			rows := [][]string{}
			for _, p := range ps {
				rows = append(rows, []string{p.ID, p.Name, fmtTime(p.CreatedAt)})
			}
			e.table("ID\tNAME\tCREATED", rows)
			return nil
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func (e *env) skuCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "sku", Short: "Create and list SKUs (product + edition + channel + policy)"}
	var product, edition, channel string
	var p httpapi.PolicyView
	var ents []string
	create := &cobra.Command{
		Use:   "create ID --product ID --edition NAME --channel CHANNEL",
		Short: "Create a SKU",
		Long: `Create a SKU. Channels: retail (1 licence = 1 PC, transferable), oem (bound
to the first device), volume-mak (N one-time activations), volume-host,
subscription (expires), trial (grace period). Policy flags left out take the
channel's defaults (see docs/api.md); --tolerance 0 and --grace-days 0 are
zero on purpose.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if product == "" || edition == "" || channel == "" {
				return usagef("sku create needs --product ID, --edition NAME and --channel CHANNEL")
			}
			var out httpapi.SKUView
			// Only the flags given: a tolerance or grace period given as 0
			// is zero on purpose, a flag left out takes the default.
			policy, zero := map[string]int{}, []string{}
			for flag, v := range map[string]int{"max-devices": p.MaxDevices, "valid-days": p.ValidDays, "grace-days": p.GraceDays, "tolerance": p.Tolerance, "revalidate-hours": p.RevalidateHours, "reminder-minutes": p.ReminderMinutes, "escalate-days": p.EscalateDays} {
				if !c.Flags().Changed(flag) {
					continue
				}
				field := strings.ReplaceAll(flag, "-", "_")
				policy[field] = v
				if v == 0 && (field == "tolerance" || field == "grace_days") {
					zero = append(zero, field)
				}
			}
			req := map[string]any{"id": args[0], "product": product, "edition": edition, "channel": channel, "policy": policy, "zero_on_purpose": zero, "entitlements": ents}
			if err := client().do(c.Context(), "POST", "/v1/admin/skus", req, &out); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(out)
			}
			fmt.Fprintf(e.stdout, "created SKU %s: %s %s, %s, max %d device(s), key group %d\n", out.ID, out.Product, out.Edition, out.Channel, out.Policy.MaxDevices, out.KeyGroup)
			return nil
		},
	}
	fl := create.Flags()
	fl.StringVar(&product, "product", "", "product id")
	fl.StringVar(&edition, "edition", "", "edition name, e.g. Pro")
	fl.StringVar(&channel, "channel", "", "retail, oem, volume-mak, volume-host, subscription or trial")
	fl.IntVar(&p.MaxDevices, "max-devices", 0, "devices one key may activate at once (volume-mak: activations)")
	fl.IntVar(&p.ValidDays, "valid-days", 0, "days an activation is valid; 0 = perpetual (subscription: 365, trial: 30)")
	fl.IntVar(&p.GraceDays, "grace-days", 0, "days a copy may run before it is activated (default 30; trial: 0; 0 given = none); a new copy asks for its product's longest, see docs/sdk.md GraceDays")
	fl.IntVar(&p.Tolerance, "tolerance", 0, "hardware change points tolerated before a device counts as changed (default 4; 0 given = any change of a component makes another device)")
	fl.IntVar(&p.RevalidateHours, "revalidate-hours", 0, "hours between online validations (default 24)")
	fl.IntVar(&p.ReminderMinutes, "reminder-minutes", 0, "minutes between not-genuine reminders (default 60)")
	fl.IntVar(&p.EscalateDays, "escalate-days", 0, "days after which reminders escalate (default 14)")
	fl.StringSliceVar(&ents, "entitlement", nil, "entitlement granted by the SKU (repeatable)")
	var listProduct string
	list := &cobra.Command{
		Use:   "list",
		Short: "List SKUs",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			path := "/v1/admin/skus"
			if listProduct != "" {
				path += "?product=" + url.QueryEscape(listProduct)
			}
			var ks []httpapi.SKUView
			if err := client().do(c.Context(), "GET", path, nil, &ks); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(ks)
			}
			rows := [][]string{}
			for _, k := range ks {
				rows = append(rows, []string{k.ID, k.Product, k.Edition, k.Channel, strconv.Itoa(k.Policy.MaxDevices), days(k.Policy.ValidDays), strconv.Itoa(k.Policy.GraceDays), strconv.Itoa(k.Policy.Tolerance), strconv.FormatUint(uint64(k.KeysIssued), 10)})
			}
			e.table("ID\tPRODUCT\tEDITION\tCHANNEL\tMAX DEVICES\tVALID\tGRACE DAYS\tTOLERANCE\tKEYS", rows)
			return nil
		},
	}
	list.Flags().StringVar(&listProduct, "product", "", "only SKUs of this product")
	cmd.AddCommand(create, list)
	return cmd
}

func days(n int) string {
	if n == 0 {
		return "perpetual"
	}
	return strconv.Itoa(n) + "d"
}

func (e *env) keysCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Generate, look up, block and unblock product keys"}
	var sku, out, format string
	var force bool
	var count, batch int
	gen := &cobra.Command{
		Use:   "generate --sku ID --count N [--out FILE]",
		Short: "Generate product keys",
		Long: `Generate product keys, one per line (or CSV with --format csv), to stdout or
--out FILE. Keys are made in batches; every batch written out is already
stored on the server. A progress bar is shown when stderr is a terminal.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if sku == "" || count <= 0 {
				return usagef("keys generate needs --sku ID and --count N (N > 0)")
			}
			if format != "lines" && format != "csv" {
				return usagef("--format %q: use lines or csv", format)
			}
			if batch <= 0 || batch > keys.MaxBatch {
				return usagef("--batch must be between 1 and %d", keys.MaxBatch)
			}
			if g.json && format == "csv" && out == "" {
				return usagef("--json and --format csv both decide what goes to stdout: give one, or write the CSV to a file with --out (--json then prints a summary)")
			}
			return e.generateKeys(c.Context(), client(), g, sku, count, batch, out, format, force)
		},
	}
	fl := gen.Flags()
	fl.StringVar(&sku, "sku", "", "SKU id")
	fl.IntVar(&count, "count", 0, "number of keys")
	fl.StringVar(&out, "out", "", "write keys to this new file (mode 0600) instead of stdout")
	fl.BoolVar(&force, "force", false, "replace --out if it exists (the keys in it are gone for good: the server keeps only their hashes)")
	fl.StringVar(&format, "format", "lines", "lines (one key per line) or csv (key,sku,product,edition,channel)")
	fl.IntVar(&batch, "batch", 50000, "keys per request (at most 50000)")

	show := &cobra.Command{
		Use:   "show KEY",
		Short: "Show a key's status, SKU and activations",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var inf keys.Info
			if err := client().do(c.Context(), "POST", "/v1/admin/keys/lookup", map[string]string{"key": args[0]}, &inf); err != nil {
				return err
			}
			return e.printKeyInfo(g, inf)
		},
	}
	var reason string
	block := &cobra.Command{
		Use:   "block KEY --reason counterfeit|leaked|refunded|other",
		Short: "Block a key: its devices learn at their next validation",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !slices.Contains(keys.BlockReasons, reason) {
				return usagef("keys block needs --reason counterfeit, leaked, refunded or other (not %q)", reason)
			}
			var inf keys.Info
			if err := client().do(c.Context(), "POST", "/v1/admin/keys/block", map[string]string{"key": args[0], "reason": reason}, &inf); err != nil {
				return err
			}
			return e.printKeyInfo(g, inf)
		},
	}
	block.Flags().StringVar(&reason, "reason", "", "counterfeit, leaked, refunded or other")
	unblock := &cobra.Command{
		Use:   "unblock KEY",
		Short: "Unblock a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var inf keys.Info
			if err := client().do(c.Context(), "POST", "/v1/admin/keys/unblock", map[string]string{"key": args[0]}, &inf); err != nil {
				return err
			}
			return e.printKeyInfo(g, inf)
		},
	}
	cmd.AddCommand(gen, show, block, unblock)
	return cmd
}

func (e *env) printKeyInfo(g *adminFlags, inf keys.Info) error {
	if g.json {
		return e.printJSON(inf)
	}
	w := e.stdout
	if inf.Unchanged {
		fmt.Fprintf(w, "nothing changed: the key already was %s\n", map[bool]string{true: "blocked for this reason", false: "not blocked"}[inf.Status == "blocked"])
	}
	fmt.Fprintf(w, "key:          %s\n", inf.PartialKey)
	status := inf.Status
	if inf.BlockReason != "" {
		status += " (" + inf.BlockReason + ", since " + fmtTime(inf.BlockedAt) + ")"
	}
	fmt.Fprintf(w, "status:       %s\n", status)
	fmt.Fprintf(w, "sku:          %s (%s %s, %s)\n", inf.SKU, inf.Product, inf.Edition, inf.Channel)
	fmt.Fprintf(w, "activations:  %d active of %d allowed, %d ever\n", inf.ActiveActivations, inf.MaxDevices, inf.Activations)
	for _, a := range inf.ActivationList {
		line := fmt.Sprintf("  %s  %-11s since %s", a.ID, a.Status, fmtTime(a.CreatedAt))
		if !a.EndedAt.IsZero() {
			line = fmt.Sprintf("  %s  %-11s activated %s, ended %s", a.ID, a.Status, fmtTime(a.CreatedAt), fmtTime(a.EndedAt))
			if a.EndReason != "" {
				line += " (" + a.EndReason + ")"
			}
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// generateKeys requests batches and writes each one out as soon as the
// server acknowledged it (file output is synced per batch).
func (e *env) generateKeys(ctx context.Context, c *apiClient, g *adminFlags, sku string, count, batch int, out, format string, force bool) error {
	var info httpapi.SKUView
	if err := c.do(ctx, "GET", "/v1/admin/skus/"+url.PathEscape(sku), nil, &info); err != nil {
		return err
	}
	if left := int64(productkey.MaxSerial) + 1 - int64(info.KeysIssued); int64(count) > left {
		return problem.Newf(problem.InvalidRequest, "SKU %s can issue %d more keys (a SKU has %d serials), not %d: nothing was issued", sku, left, productkey.MaxSerial+1, count).
			With("hint", "give a smaller --count, or create another SKU for more keys")
	}
	var w io.Writer = e.stdout
	var f *os.File
	if out != "" {
		var err error
		mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if force {
			mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err = os.OpenFile(out, mode, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return usagef("--out %s already exists and may hold keys issued before, which the server cannot show again: choose another file, or pass --force to replace it", out)
		}
		if err != nil {
			return fmt.Errorf("open --out file: %w", err)
		}
		defer f.Close()
		if force {
			// A replaced file keeps its mode: keys are for this user only.
			if err := f.Chmod(0o600); err != nil {
				return fmt.Errorf("open --out file: %w", err)
			}
		}
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var cw *csv.Writer
	if format == "csv" {
		cw = csv.NewWriter(bw)
		_ = cw.Write([]string{"key", "sku", "product", "edition", "channel"})
	}
	// --json without --out: one object, {"sku": …, "keys": […], "count": n},
	// streamed as the batches arrive.
	asJSON := g.json && out == "" && cw == nil
	if asJSON {
		skuJSON, _ := json.Marshal(sku)
		fmt.Fprintf(bw, "{\"sku\": %s, \"keys\": [", skuJSON)
	}
	bar := newProgress(e.stderr, count)
	start := time.Now()
	// Two requests in flight: the server computes one batch while it
	// commits the other. Batches are written out in arrival order; each
	// was committed before the server answered.
	type result struct {
		keys []string
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// After an error no new batch is asked for, but the one still in
	// flight is waited for: the server may have issued it, and its keys
	// are written like the others (Ctrl-C, which ends ctx, cuts it short).
	produce, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	sizes := make(chan int)
	results := make(chan result)
	go func() {
		defer close(sizes)
		for left := count; left > 0; left -= min(batch, left) {
			select {
			case sizes <- min(batch, left):
			case <-produce.Done():
				return
			}
		}
	}()
	const inFlight = 2
	var workers sync.WaitGroup
	for range inFlight {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for n := range sizes {
				var resp struct {
					Keys []string `json:"keys"`
				}
				err := c.do(ctx, "POST", "/v1/admin/skus/"+url.PathEscape(sku)+"/keys", map[string]int{"count": n}, &resp)
				select {
				case results <- result{resp.Keys, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		workers.Wait()
		close(results)
	}()
	done := 0
	var firstErr error
	for res := range results {
		if res.err != nil {
			if firstErr == nil {
				firstErr = res.err
				stopProducing()
			}
			continue
		}
		for i, k := range res.keys {
			switch {
			case cw != nil:
				_ = cw.Write([]string{k, info.ID, info.Product, info.Edition, info.Channel})
			case asJSON:
				if done > 0 || i > 0 {
					bw.WriteByte(',')
				}
				bw.WriteString("\n  \"" + k + "\"")
			default:
				bw.WriteString(k)
				bw.WriteByte('\n')
			}
		}
		if cw != nil {
			cw.Flush()
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write keys: %w", err)
		}
		if f != nil {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("write keys: %w", err)
			}
		}
		done += len(res.keys)
		bar.set(done)
	}
	if firstErr != nil {
		bar.finish()
		if asJSON {
			// Keep stdout one parsable object: the keys already made, and why
			// the rest were not.
			code, detail := codeAndDetail(firstErr)
			reason, _ := json.Marshal(string(code))
			msg, _ := json.Marshal(detail)
			fmt.Fprintf(bw, "\n], \"count\": %d, \"reason\": %s, \"error\": %s}\n", done, reason, msg)
			_ = bw.Flush()
		}
		// The batch in flight was waited for and written if it was
		// issued; one whose answer was lost (the connection broke) may
		// still have been issued. A refusal every batch gets (the token,
		// the SKU, the request) issued nothing.
		switch code, _ := codeAndDetail(firstErr); {
		case done == 0 && (code == problem.Unauthorized || code == problem.Forbidden || code == problem.SKUNotFound || code == problem.InvalidRequest || code == problem.NotFound):
		default:
			fmt.Fprintf(e.stderr, "echt: %d keys were generated and written before this error; a batch whose answer was lost when it came may have been issued without being written (the audit log's keys.generate entries list every batch issued; see docs/operations.md)\n", done)
		}
		if asJSON {
			// stdout already holds the one object: the error goes to
			// stderr alone.
			e.wantJSON = false
		}
		return firstErr
	}
	bar.finish()
	elapsed := time.Since(start)
	if asJSON {
		fmt.Fprintf(bw, "\n], \"count\": %d}\n", done)
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write keys: %w", err)
		}
		return nil
	}
	if g.json && out != "" {
		return e.printJSON(map[string]any{"sku": sku, "count": done, "out": out, "seconds": elapsed.Seconds()})
	}
	if out != "" {
		fmt.Fprintf(e.stderr, "echt: wrote %d keys to %s in %s\n", done, out, elapsed.Round(time.Millisecond))
	}
	return nil
}

// progress draws a progress bar on a terminal and nothing elsewhere.
type progress struct {
	w     io.Writer
	total int
	on    bool
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	on := false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		on = true
	}
	return &progress{w: w, total: total, on: on, start: time.Now()}
}

func (p *progress) set(n int) {
	if !p.on || (time.Since(p.last) < 100*time.Millisecond && n < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := width * n / max(p.total, 1)
	rate := float64(n) / max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d keys  %.0f/s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), n, p.total, rate)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}

func (e *env) tokenCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke admin API tokens"}
	var role, desc string
	create := &cobra.Command{
		Use:   "create --role admin|support|investigator|auditor",
		Short: "Create a token (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if !auth.Role(role).Valid() {
				return usagef("token create needs --role admin, support, investigator or auditor (not %q)", role)
			}
			var t httpapi.TokenView
			if err := client().do(c.Context(), "POST", "/v1/admin/tokens", map[string]string{"role": role, "description": desc}, &t); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(t)
			}
			fmt.Fprintf(e.stderr, "created %s token %s (the token is shown once):\n", t.Role, t.ID)
			fmt.Fprintln(e.stdout, t.Token)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, support, investigator or auditor")
	create.Flags().StringVar(&desc, "description", "", "what the token is for")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var t httpapi.TokenView
			if err := client().do(c.Context(), "POST", "/v1/admin/tokens/"+url.PathEscape(args[0])+"/revoke", map[string]string{}, &t); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(t)
			}
			fmt.Fprintf(e.stdout, "revoked token %s (%s)\n", t.ID, t.Role)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var ts []httpapi.TokenView
			if err := client().do(c.Context(), "GET", "/v1/admin/tokens", nil, &ts); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(ts)
			}
			rows := [][]string{}
			for _, t := range ts {
				state := "valid"
				if !t.RevokedAt.IsZero() {
					state = "revoked " + fmtTime(t.RevokedAt)
				}
				rows = append(rows, []string{t.ID, t.Role, state, fmtTime(t.CreatedAt), t.Description})
			}
			e.table("ID\tROLE\tSTATE\tCREATED\tDESCRIPTION", rows)
			return nil
		},
	}
	cmd.AddCommand(create, revoke, list)
	return cmd
}

func (e *env) auditCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	var after int64
	var limit int
	var action string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the append-only audit log of admin changes",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			q := url.Values{}
			q.Set("after", strconv.FormatInt(after, 10))
			q.Set("limit", strconv.Itoa(limit))
			if action != "" {
				q.Set("action", action)
			}
			var es []httpapi.AuditView
			if err := client().do(c.Context(), "GET", "/v1/admin/audit?"+q.Encode(), nil, &es); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(es)
			}
			rows := [][]string{}
			for _, a := range es {
				rows = append(rows, []string{strconv.FormatInt(a.Seq, 10), fmtTime(a.At), a.Actor, a.Action, a.Target, string(a.Detail)})
			}
			e.table("SEQ\tTIME\tACTOR\tACTION\tTARGET\tDETAIL", rows)
			return nil
		},
	}
	cmd.Flags().Int64Var(&after, "after", 0, "only entries after this sequence number")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many entries (1-1000)")
	cmd.Flags().StringVar(&action, "action", "", "only this action, e.g. key.block")
	return cmd
}

func (e *env) keyringCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "keyring", Short: "Show and rotate the publisher's signing keys"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the root key clients trust and the signing keys",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var v httpapi.SigningKeysView
			if err := client().do(c.Context(), "GET", "/v1/signing-keys", nil, &v); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(v)
			}
			fmt.Fprintf(e.stdout, "root key (embed in your app): %s  %s\n", v.Root.KeyID, v.Root.PublicKey)
			rows := [][]string{}
			for _, k := range v.Keys {
				state := "active"
				if !k.RetiredAt.IsZero() {
					state = "retired " + fmtTime(k.RetiredAt)
				}
				if k.Role == "root" {
					state = "trust anchor"
				}
				rows = append(rows, []string{k.KeyID, k.Role, state, fmtTime(k.CreatedAt)})
			}
			e.table("KID\tROLE\tSTATE\tCREATED", rows)
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key; what the old one signed still verifies",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var k map[string]any
			if err := client().do(c.Context(), "POST", "/v1/admin/keyring/rotate", map[string]string{}, &k); err != nil {
				return err
			}
			if g.json {
				return e.printJSON(k)
			}
			fmt.Fprintf(e.stdout, "new signing key %v\n", k["kid"])
			return nil
		},
	}
	cmd.AddCommand(show, rotate)
	return cmd
}

func (e *env) feedbackCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	return &cobra.Command{
		Use:   "feedback",
		Short: "Report the answers to \"Was this helpful?\" per help page, least helpful first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var fs []httpapi.FeedbackView
			if err := client().do(c.Context(), "GET", "/v1/admin/feedback", nil, &fs); err != nil {
				return err
			}
			sort.SliceStable(fs, func(i, j int) bool { return helpfulShare(fs[i]) < helpfulShare(fs[j]) })
			if g.json {
				return e.printJSON(fs)
			}
			rows := [][]string{}
			for _, f := range fs {
				rows = append(rows, []string{f.Page, f.Lang, strconv.FormatInt(f.Yes, 10), strconv.FormatInt(f.No, 10), fmt.Sprintf("%.0f%%", 100*helpfulShare(f))})
			}
			e.table("PAGE\tLANG\tYES\tNO\tHELPFUL", rows)
			return nil
		},
	}
}

func helpfulShare(f httpapi.FeedbackView) float64 {
	if f.Yes+f.No == 0 {
		return 0
	}
	return float64(f.Yes) / float64(f.Yes+f.No)
}

func (e *env) activationsCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "activations", Short: "Show and revoke activations"}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an activation",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var a httpapi.ActivationView
			if err := client().do(c.Context(), "GET", "/v1/admin/activations/"+url.PathEscape(args[0]), nil, &a); err != nil {
				return err
			}
			return e.printActivation(g, a)
		},
	}
	var reason string
	revoke := &cobra.Command{
		Use:   "revoke ID --reason TEXT",
		Short: "Revoke an activation; the device learns at its next validation",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if reason == "" {
				return usagef("activations revoke needs --reason TEXT")
			}
			var a httpapi.ActivationView
			if err := client().do(c.Context(), "POST", "/v1/admin/activations/"+url.PathEscape(args[0])+"/revoke", map[string]string{"reason": reason}, &a); err != nil {
				return err
			}
			if err := e.printActivation(g, a); err != nil || g.json {
				return err
			}
			if a.Unchanged {
				fmt.Fprintf(e.stdout, "nothing changed: the activation had already ended (%s); its seat was already free\n", a.Status)
			}
			return nil
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	cmd.AddCommand(show, revoke)
	return cmd
}

func (e *env) printActivation(g *adminFlags, a httpapi.ActivationView) error {
	if g.json {
		return e.printJSON(a)
	}
	fmt.Fprintf(e.stdout, "activation:  %s\nstatus:      %s\nproduct:     %s (%s)\nkey:         %s\ncreated:     %s\n", a.ID, a.Status, a.Product, a.SKU, a.PartialKey, fmtTime(a.CreatedAt))
	if !a.EndedAt.IsZero() {
		fmt.Fprintf(e.stdout, "ended:       %s (%s)\n", fmtTime(a.EndedAt), a.EndReason)
	}
	if a.PriorID != "" {
		fmt.Fprintf(e.stdout, "replaces:    %s (activated with another key after a repair)\n", a.PriorID)
	}
	return nil
}
