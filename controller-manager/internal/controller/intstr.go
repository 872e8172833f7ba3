package controller

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// ScaledValue resolves an int-or-percent against total, as Kubernetes'
// intstr.GetScaledValueFromIntOrPercent: a percentage is rounded up when roundUp is set,
// down otherwise. A nil value is 0.
func ScaledValue(v *metav1.IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	if v.GetType() == 0 {
		return v.GetIntVal(), nil
	}
	s := v.GetStrVal()
	pct, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("invalid value for IntOrString: invalid value %q: must be an integer or a percentage", s)
	}
	n, err := strconv.Atoi(pct)
	if err != nil {
		return 0, fmt.Errorf("invalid value %q: %w", s, err)
	}
	scaled := float64(n) * float64(total) / 100
	if roundUp {
		return int32(math.Ceil(scaled)), nil
	}
	return int32(math.Floor(scaled)), nil
}
