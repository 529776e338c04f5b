package main

import (
	"strings"
	"testing"
)

func TestCompareHostSkipsOtherSandboxesBridges(t *testing.T) {
	was := &hostState{
		Links: []string{"lo", "eth0", "skfcc47ded11e"},
		Sysctls: map[string]string{
			"net.ipv6.conf.skfcc47ded11e.accept_ra": "1",
			"net.ipv6.conf.eth0.accept_ra":          "1",
			"net.ipv4.ip_forward":                   "0",
			"net.ipv4.conf.all.forwarding":          "0",
		},
	}
	now := &hostState{
		Links: []string{"lo", "eth0", "skfcc47ded11e"},
		Sysctls: map[string]string{
			"net.ipv6.conf.skfcc47ded11e.accept_ra": "0",
			"net.ipv6.conf.eth0.accept_ra":          "0",
			"net.ipv4.ip_forward":                   "1",
			"net.ipv4.conf.all.forwarding":          "1",
		},
	}
	got := strings.Join(compareHost(was, now), "\n")
	for _, want := range []string{"net.ipv6.conf.eth0.accept_ra", "net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"} {
		if !strings.Contains(got, want) {
			t.Errorf("a change of %s is not reported; findings:\n%s", want, got)
		}
	}
	if strings.Contains(got, "skfcc47ded11e") {
		t.Errorf("another sandbox's bridge is reported:\n%s", got)
	}
}
