//go:build !(linux && (amd64 || arm64))

package sqlite

// installFramePwrite is a no-op here: SQLite writes each log frame with
// its two calls (see walwrite_linux64.go).
func installFramePwrite() {}
