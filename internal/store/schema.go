package store

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"
)

// CheckSchema refuses a database migrated beyond the last migration of p:
// a newer echt changed it, and this one would write rows that version does
// not expect (ErrSchemaNewer).
func CheckSchema(ctx context.Context, p *goose.Provider) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) == 0 || v <= srcs[len(srcs)-1].Version {
		return nil
	}
	return fmt.Errorf("%w: it is at version %d and this echt knows up to %d (another node or a newer echt upgraded it): run the same echt version, or a newer one, on every node", ErrSchemaNewer, v, srcs[len(srcs)-1].Version)
}
