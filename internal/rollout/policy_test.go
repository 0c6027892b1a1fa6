package rollout

import (
	"slices"
	"testing"
)

func TestRebootPoliciesDecideWhatAHostGetsAfterPatching(t *testing.T) {
	kernel := Needs{Reboot: true, Services: []string{"ssh.service"}}
	services := Needs{Services: []string{"nginx.service", "ssh.service"}}
	none := Needs{}
	tests := []struct {
		name        string
		policy      RebootPolicy
		needs       Needs
		wantReboot  bool
		wantRestart []string
	}{
		{"restart-services reboots a host that needs a reboot, without restarts", RebootRestartServices, kernel, true, nil},
		{"restart-services restarts the services of a host that needs only that", RebootRestartServices, services, false, services.Services},
		{"restart-services leaves a host that needs neither alone", RebootRestartServices, none, false, nil},
		{"if-required reboots a host that needs it", RebootIfRequired, kernel, true, nil},
		{"if-required does not restart services", RebootIfRequired, services, false, nil},
		{"the empty policy is if-required", "", kernel, true, nil},
		{"never reboots nothing", RebootNever, kernel, false, nil},
		{"always reboots a host that needs nothing", RebootAlways, none, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reboot, restart := tt.policy.AfterPatch(tt.needs)
			if reboot != tt.wantReboot || !slices.Equal(restart, tt.wantRestart) {
				t.Errorf("AfterPatch = %v %v, want %v %v", reboot, restart, tt.wantReboot, tt.wantRestart)
			}
			if !tt.policy.Valid() {
				t.Errorf("%q is not Valid", tt.policy)
			}
		})
	}
	if RebootPolicy("reboot-sometimes").Valid() {
		t.Error("an unknown policy is Valid")
	}
}
