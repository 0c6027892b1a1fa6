#!/bin/sh
# patchbay-agent prerm (deb: "remove" or "upgrade"; rpm %preun: 0 remove,
# 1 upgrade; apk pre-deinstall). On removal the service is stopped and
# disabled; an upgrade leaves it running for postinst to restart.
set -e
root="${DPKG_ROOT:-}"

booted() {
	[ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

case "$1" in
remove | 0 | "") ;;
*) exit 0 ;;
esac

if booted; then
	systemctl disable --now patchbay-agent.service || true
else
	rm -f "$root/etc/systemd/system/multi-user.target.wants/patchbay-agent.service"
fi
exit 0
