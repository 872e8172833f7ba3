package cronjob

import (
	"testing"
	"time"

	"kubelab.io/proto/validation"
)

func TestMostRecentScheduleTime(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name, schedule string
		since, now     time.Time
		want           time.Time // zero: none due
		missed         int64
		err            bool
	}{
		{"not yet", "*/5 * * * *", at(10, 0), at(10, 4), time.Time{}, 0, false},
		{"one due", "*/5 * * * *", at(10, 0), at(10, 7), at(10, 5), 1, false},
		{"several", "*/5 * * * *", at(10, 0), at(10, 23), at(10, 20), 4, false},
		{"hourly macro", "@hourly", at(10, 30), at(13, 10), at(13, 0), 3, false},
		{"years off", "0 * * * *", at(10, 0).AddDate(-5, 0, 0), at(10, 30), at(10, 0), 43824, false},
		{"never", "59 23 31 2 *", at(10, 0), at(10, 0).AddDate(1, 0, 0), time.Time{}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := validation.ParseCronSchedule(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			got, missed, err := mostRecentScheduleTime(tc.since, tc.now, sched)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if tc.err {
				return
			}
			if (got == nil) != tc.want.IsZero() || got != nil && !got.Equal(tc.want) || missed != tc.missed {
				t.Errorf("got %v (%d missed), want %v (%d)", got, missed, tc.want, tc.missed)
			}
		})
	}
}
