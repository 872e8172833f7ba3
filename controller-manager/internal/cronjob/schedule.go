package cronjob

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	batchv1 "kubelab.io/proto/api/batch/v1"
	"kubelab.io/proto/validation"
)

// The schedule arithmetic: pure functions of a CronJob, a schedule and the time, so the
// tests can say exactly when a run is due.

// nextScheduleDelta is added to a requeue so the sync runs just after the scheduled time,
// not a hair before it (the queue's timer and the clock may disagree by a little).
const nextScheduleDelta = 100 * time.Millisecond

// tooManyMissed is how many missed start times are reported as TooManyMissedTimes: more
// than a long weekend of an hourly CronJob, fewer than a clock gone wrong by decades.
const tooManyMissed = 100

// errTooClose is a schedule whose runs are less than a second apart ("59 23 31 2 *", a day
// that never comes, gives two equal times).
var errTooClose = errors.New("time difference between two schedules is less than 1 second")

// parseSchedule parses cj's schedule in its time zone: timeZone becomes robfig/cron's TZ=
// prefix, which makes Next work in that zone. A zone the controller's database lacks leaves
// the schedule in the local zone; sync refuses such a CronJob before asking.
func parseSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	spec := cj.GetSpec()
	schedule := spec.GetSchedule()
	if spec.TimeZone != nil && !strings.Contains(schedule, "TZ") {
		if _, err := time.LoadLocation(spec.GetTimeZone()); err == nil {
			schedule = fmt.Sprintf("TZ=%s %s", spec.GetTimeZone(), schedule)
		}
	}
	return validation.ParseCronSchedule(schedule)
}

// earliest is the time from which cj's start times are due: its last scheduled run, else its
// creation.
func earliest(cj *batchv1.CronJob) time.Time {
	if t := cj.GetStatus().GetLastScheduleTime(); t != nil {
		return time.Unix(t.GetSeconds(), 0)
	}
	return time.Unix(cj.GetMetadata().GetCreationTimestamp().GetSeconds(), 0)
}

// mostRecentScheduleTime is the latest start time of schedule after since and not after
// now (nil when none is), and roughly how many there were. It does not walk every missed
// time: from the first two it works out the period and jumps close to now, so a clock off
// by years costs no more than one that is right.
func mostRecentScheduleTime(since, now time.Time, schedule cron.Schedule) (*time.Time, int64, error) {
	t1 := schedule.Next(since)
	t2 := schedule.Next(t1)
	if now.Before(t1) {
		return nil, 0, nil
	}
	if now.Before(t2) {
		return &t1, 1, nil
	}
	period := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if period < 1 {
		return nil, 0, errTooClose
	}
	missed := int64(now.Sub(t1).Seconds())/period + 1
	// Start one period before the estimate: a schedule's periods differ (months, DST), so
	// the walk that follows finds the true most recent time.
	var recent time.Time
	for t := schedule.Next(t1.Add(time.Duration((missed-2)*period) * time.Second)); !t.After(now); t = schedule.Next(t) {
		recent = t
	}
	if recent.IsZero() {
		return nil, missed, errors.New("unable to find the most recent scheduled time")
	}
	return &recent, missed, nil
}

// unmetScheduleTime is the start time cj should run for now, if any, and how many start
// times were missed: the most recent one since its last run (or creation), not older than
// startingDeadlineSeconds allows looking back.
func unmetScheduleTime(cj *batchv1.CronJob, now time.Time, schedule cron.Schedule) (*time.Time, int64, error) {
	since := earliest(cj)
	if d := cj.GetSpec().StartingDeadlineSeconds; d != nil {
		if deadline := now.Add(-time.Duration(*d) * time.Second); deadline.After(since) {
			since = deadline
		}
	}
	return mostRecentScheduleTime(since, now, schedule)
}

// requeueAfter is how long from now cj's next start time is, plus nextScheduleDelta: when
// the sync that starts it should run.
func requeueAfter(cj *batchv1.CronJob, now time.Time, schedule cron.Schedule) time.Duration {
	since := earliest(cj)
	recent, _, err := mostRecentScheduleTime(since, now, schedule)
	switch {
	case err != nil:
		recent = &now // still come back, at the next start time from now
	case recent == nil:
		recent = &since // nothing due since: the next start time after it
	}
	return schedule.Next(*recent).Add(nextScheduleDelta).Sub(now)
}

// jobName is the name of cj's Job for scheduledTime: the CronJob's name and the scheduled
// time in minutes since the epoch, so a run has one name whoever creates it, and a second
// create of it (after a crash, or a lagging cache) fails with AlreadyExists.
func jobName(cj *batchv1.CronJob, scheduledTime time.Time) string {
	return fmt.Sprintf("%s-%d", cj.GetMetadata().GetName(), scheduledTime.Unix()/60)
}
