package network

import (
	"strings"
	"testing"
)

func TestCampusCidrsMustNotOverlapTheVPC(t *testing.T) {
	for _, c := range []struct {
		vpc    string
		campus []string
		bad    string // the CIDR the error names; "" for no error
	}{
		{"10.20.0.0/16", []string{"192.168.0.0/16", "172.16.0.0/12"}, ""},
		{"10.20.0.0/16", []string{"10.0.0.0/8"}, "10.0.0.0/8"},         // campus holds the VPC
		{"10.0.0.0/8", []string{"10.20.30.0/24"}, "10.20.30.0/24"},     // the VPC holds campus
		{"10.20.0.0/16", []string{"10.20.255.0/24"}, "10.20.255.0/24"}, // the last subnet
		{"10.20.0.0/16", []string{"10.21.0.0/16", "10.19.0.0/16"}, ""}, // neighbours
		{"172.31.0.0/16", []string{"172.16.0.0/12"}, "172.16.0.0/12"},  // the default VPC
		{"10.20.0.0/16", []string{"192.0.2.0/24", "10.20.0.0/16"}, "10.20.0.0/16"},
	} {
		err := CheckOverlap(c.vpc, c.campus)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("VPC %s, campus %v: %v", c.vpc, c.campus, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), "campusCidrs: "+c.bad+" overlaps the VPC's CIDR "+c.vpc)):
			t.Errorf("VPC %s, campus %v: err = %v, want one naming %s", c.vpc, c.campus, err, c.bad)
		}
	}
}
