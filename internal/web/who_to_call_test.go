package web

import (
	"strings"
	"testing"
)

func TestTheGroupPageSaysWhoToCallAndWhen(t *testing.T) {
	b := newEnv(t).signedIn("stakeholder")
	_, body := b.get("/groups/web")
	for _, want := range []string{
		`<tr><th scope="row">0d</th><td>operator (sysadmin)</td></tr>`,
		`<tr><th scope="row">3d</th><td>approver (approver)</td></tr>`,
		`<tr><th scope="row">7d</th><td>` + escapeForTest(xssHostname) + ` (stakeholder), the change&#39;s author</td></tr>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the web group's page lacks %s", want)
		}
	}
	_, body = b.get("/groups/databases")
	if strings.Contains(body, `id="who-to-call"`) || !strings.Contains(body, "Team data team has no escalation ladder") {
		t.Error("a team without a ladder: the page should say it has none")
	}
}

// escapeForTest is html/template's escaping of text, written out for the
// characters the hostile test strings use.
func escapeForTest(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
