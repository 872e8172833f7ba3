package app

import (
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--hostname-override", "Node-1", "--cluster-cidr", "10.244.0.0/16", "--min-sync-period", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.hostnameOverride != "Node-1" || o.clusterCIDR != "10.244.0.0/16" || o.syncPeriod.String() != "30s" || o.healthzAddress != "0.0.0.0:10256" || o.metricsAddress != "127.0.0.1:10249" {
		t.Errorf("options %+v", o)
	}
	for _, args := range [][]string{
		{"--cluster-cidr", "10.244.0.0"},
		{"--sync-period", "1s", "--min-sync-period", "2s"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", strings.Join(args, " "))
		}
	}
	if n, err := parseCIDRs("10.0.0.0/8, 192.168.0.0/16"); err != nil || len(n) != 2 {
		t.Errorf("parseCIDRs: %v %v", n, err)
	}
	if _, err := parseCIDRs("10.0.0.1"); err == nil {
		t.Error("parseCIDRs accepted an address")
	}
}
