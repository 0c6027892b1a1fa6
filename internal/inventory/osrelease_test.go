package inventory

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/testenv"
)

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    OS
		wantErr string
	}{
		{
			name: "debian 12 as shipped",
			input: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
			want: OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)", Codename: "bookworm"},
		},
		{
			name: "almalinux with ID_LIKE list and single quotes",
			input: `NAME='AlmaLinux'
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
# a comment

PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
`,
			want: OS{ID: "almalinux", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "9.4", Name: "AlmaLinux", PrettyName: "AlmaLinux 9.4 (Seafoam Ocelot)"},
		},
		{
			name:  "old ubuntu has only UBUNTU_CODENAME",
			input: "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"16.04\"\nUBUNTU_CODENAME=xenial\n",
			want:  OS{ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "16.04", Codename: "xenial"},
		},
		{
			name:  "VERSION_CODENAME wins over UBUNTU_CODENAME",
			input: "ID=ubuntu\nUBUNTU_CODENAME=jammy\nVERSION_CODENAME=noble\n",
			want:  OS{ID: "ubuntu", Codename: "noble"},
		},
		{
			name:  "escapes inside and outside double quotes",
			input: `PRETTY_NAME="say \"hi\" \$HOME \n"` + "\nNAME=Big\\ Linux\nID=x'y'\"z\"\n",
			want:  OS{ID: "xyz", Name: "Big Linux", PrettyName: `say "hi" $HOME \n`},
		},
		{
			name:  "ID defaults to linux",
			input: "NAME=Something\n",
			want:  OS{ID: "linux", Name: "Something"},
		},
		{
			name:    "a bad line is reported and the rest still read",
			input:   "ID=alpine\nVERSION_ID=\"3.19.1\nthis is not an assignment\nNAME=\"Alpine Linux\"\n",
			want:    OS{ID: "alpine", Name: "Alpine Linux"},
			wantErr: "os-release line 2: VERSION_ID: unterminated double quote",
		},
		{
			name:    "an unquoted space is an error",
			input:   "ID=alpine\nNAME=Alpine Linux\n",
			want:    OS{ID: "alpine"},
			wantErr: "os-release line 2: NAME: unquoted space in value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOSRelease(strings.NewReader(tt.input))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("error %q, want %q", gotErr, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseOSReleaseReadsThisMachine(t *testing.T) {
	f, err := openFirst("/etc/os-release", "/usr/lib/os-release")
	if err != nil {
		testenv.SkipOrFail(t, "no os-release on this machine: %v", err)
	}
	defer f.Close()
	osr, err := ParseOSRelease(f)
	if err != nil {
		t.Fatal(err)
	}
	if osr.ID == "" || osr.Name == "" {
		t.Errorf("incomplete: %+v", osr)
	}
}

func openFirst(paths ...string) (*os.File, error) {
	var err error
	for _, p := range paths {
		var f *os.File
		if f, err = os.Open(p); err == nil {
			return f, nil
		}
	}
	return nil, err
}
