package labels

import "testing"

func TestParseToLabelSelector(t *testing.T) {
	got, err := ParseToLabelSelector("app=x,tier in (a,b),!gone")
	if err != nil {
		t.Fatal(err)
	}
	if got.MatchLabels["app"] != "x" || len(got.MatchExpressions) != 2 || got.MatchExpressions[1].GetOperator() != "In" ||
		got.MatchExpressions[0].GetOperator() != "DoesNotExist" {
		t.Errorf("got %v", got)
	}
	if _, err := ParseToLabelSelector("app!=x"); err == nil || err.Error() != `"!=" is not a valid label selector operator` {
		t.Errorf("!=: %v", err)
	}
}
