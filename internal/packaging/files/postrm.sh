#!/bin/sh
# patchbay-agent postrm (deb: "remove", "purge", "upgrade"...; rpm %postun:
# 0 remove, 1 upgrade; apk post-deinstall). The agent's identity and state
# in /var/lib/patchbay stay on removal (reinstalling keeps the host's
# enrollment) and go on purge. rpm has no purge: remove the directory by
# hand.
set -e
root="${DPKG_ROOT:-}"

booted() {
	[ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

case "$1" in
remove | purge | 0 | "")
	# Left by self-updates, not owned by the package.
	rm -f "$root/usr/bin/patchbay-agent.prev" "$root/usr/bin/patchbay-agent.pending" "$root/usr/bin/patchbay-agent.trial"
	;;
esac
if [ "$1" = purge ]; then
	rm -rf "$root/var/lib/patchbay"
fi
if booted; then
	systemctl daemon-reload || true
fi
exit 0
