package echt

import (
	"context"
	"time"
)

// Reminder is what the application's callback receives while a copy is
// not genuine: at start, then every reminder interval. Echt never deletes
// or locks the user's data; what to show is the application's choice.
type Reminder struct {
	Status *Status
	// Count is 1 for the first reminder of a run, then 2, 3, ...
	Count int
	// Escalated is true once the copy has been not genuine for the SKU's
	// escalation period (escalate_days): a stronger nag is warranted.
	Escalated bool
}

// WatchOptions tune Watch; zero values take the license's policy.
type WatchOptions struct {
	// Interval between reminders; 0 means the SKU's reminder interval
	// (60 minutes by default).
	Interval time.Duration
	// EscalateAfter overrides the SKU's escalation period.
	EscalateAfter time.Duration
	// OnCheck, if set, is called after every check, genuine or not.
	OnCheck func(*Status)
}

const (
	defaultReminder = 60 * time.Minute
	defaultEscalate = 14 * 24 * time.Hour
)

// Watch checks the product at start and every interval until ctx ends,
// and calls remind while the copy is not genuine. It validates online when
// the last verdict asks for it (next check due) and offline otherwise; an
// unreachable server never makes a copy not genuine.
func (c *Client) Watch(ctx context.Context, product string, opts WatchOptions, remind func(Reminder)) error {
	if err := checkProduct(product, "Watch", ""); err != nil {
		return err
	}
	if remind == nil {
		remind = func(Reminder) {}
	}
	count := 0
	var nextOnline, firstBad time.Time
	// A genuine verdict stored earlier says when to ask the server again.
	if st, err := c.StatusProduct(ctx, product); err == nil && !st.NextCheck.IsZero() {
		nextOnline = st.NextCheck
	}
	for {
		var st *Status
		var err error
		if now := c.now(); !now.Before(nextOnline) && c.cfg.Server != "" {
			st, err = c.ValidateProduct(ctx, product)
			if err == nil && st.Online && st.NextCheck.After(now) {
				nextOnline = st.NextCheck
			} else {
				// No verdict (the server failed, or the copy fell back to
				// the offline check): retry later, as KMS clients do.
				nextOnline = now.Add(2 * time.Hour)
			}
		}
		if st == nil || err != nil {
			st, err = c.StatusProduct(ctx, product)
		}
		if err != nil {
			return err
		}
		if opts.OnCheck != nil {
			opts.OnCheck(st)
		}
		interval, escalate := opts.Interval, opts.EscalateAfter
		if ll, lerr := c.load(ctx, product); lerr == nil && ll.verifyOK == nil && ll.files.license != nil {
			if interval <= 0 && ll.lic.ReminderMinutes > 0 {
				interval = time.Duration(ll.lic.ReminderMinutes) * time.Minute
			}
			if escalate <= 0 && ll.lic.EscalateDays > 0 {
				escalate = time.Duration(ll.lic.EscalateDays) * 24 * time.Hour
			}
		}
		if interval <= 0 {
			interval = defaultReminder
		}
		if escalate <= 0 {
			escalate = defaultEscalate
		}
		if st.Status != StatusGenuine && st.Status != StatusGrace {
			count++
			if firstBad.IsZero() {
				firstBad = c.now()
			}
			// NOT_ACTIVATED counts from the end of its grace period, which
			// the device records (it survives restarts of the
			// application); without either, from the first reminder of
			// this watch.
			since := st.NotGenuineSince
			if since.IsZero() && st.Status == StatusNotActivated {
				since = st.GraceUntil
			}
			if since.IsZero() || firstBad.Before(since) {
				since = firstBad
			}
			remind(Reminder{Status: st, Count: count, Escalated: c.now().Sub(since) >= escalate})
		} else {
			count, firstBad = 0, time.Time{}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
