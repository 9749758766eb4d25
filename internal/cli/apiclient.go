package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/echt-dev/echt/problem"
)

// apiClient calls the admin API.
type apiClient struct {
	server string
	token  string
	http   *http.Client
	// tokenFile is where the token was read from when none was given; a
	// refusal of that token says so.
	tokenFile string
}

func newAPIClient(server, token string) *apiClient {
	return &apiClient{server: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: 5 * time.Minute}}
}

// do sends a request with a JSON body (if in != nil) and decodes a JSON
// response into out (if out != nil). Error responses become *problem.Error.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return usagef("--server %q: %v", c.server, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "echt-cli/"+Version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unreachable(c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.failure(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
		return fmt.Errorf("read response of %s %s: %w", method, path, err)
	}
	return nil
}

// refusedToken is what to do when server refuses the token given with
// --token or ECHT_TOKEN.
func refusedToken(server string) string {
	return server + " does not accept the token given with --token or ECHT_TOKEN: it is mistyped, revoked or another server's; check it, or ask an admin of that server for a new one (echt admin token create)"
}

// failure reads an error response. A refused token that was read from the
// local server's token file (no --token given) is named in what to do.
func (c *apiClient) failure(resp *http.Response) error {
	err := problem.Decode(resp)
	var pe *problem.Error
	if foreign, detail := problem.Foreign(resp.StatusCode, resp.Header.Get("Content-Type")); foreign && errors.As(err, &pe) {
		// Not an echt server's answer (a web server, a proxy's error
		// page): say so, instead of a bare status and "try again".
		pe.Detail = c.server + " " + detail
		if pe.Extra == nil {
			pe.Extra = map[string]any{}
		}
		pe.Extra["hint"] = "check --server (or ECHT_SERVER): it must be the address of an echt server (echt serve), not of another web server or a proxy in front of it that answered in its place"
		return pe
	}
	if c.token != "" && resp.StatusCode == http.StatusUnauthorized && errors.As(err, &pe) {
		if pe.Extra == nil {
			pe.Extra = map[string]any{}
		}
		if c.tokenFile != "" {
			pe.Extra["hint"] = "no --token was given, so the token in " + c.tokenFile + " was used, and " + c.server + " does not accept it (another server's token, or a revoked one): pass --token or set ECHT_TOKEN"
		} else {
			pe.Extra["hint"] = refusedToken(c.server)
		}
	}
	return err
}
