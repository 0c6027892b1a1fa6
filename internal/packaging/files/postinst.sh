#!/bin/sh
# patchbay-agent postinst (deb: "configure" [old-version]; rpm %post:
# 1 install, 2 upgrade; apk post-install/post-upgrade: the version).
# The service is enabled and started only on a running systemd host: in an
# image root (dpkg --root, rpm --root, a chroot) nothing here touches the
# machine running the installer.
set -e
root="${DPKG_ROOT:-}"

booted() {
	[ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

mkdir -p "$root/var/lib/patchbay/agent"
chmod 0700 "$root/var/lib/patchbay" "$root/var/lib/patchbay/agent"

# The binary just installed by the package manager is trusted: a
# self-update trial of the one it replaced is over, and the unit's guard
# must not put an older binary back over it.
rm -f "$root/usr/bin/patchbay-agent.trial" "$root/usr/bin/patchbay-agent.pending"

upgrade=no
case "$1" in
configure) [ -n "$2" ] && upgrade=yes ;;
2) upgrade=yes ;;
esac

if booted; then
	systemctl daemon-reload || true
	if [ "$upgrade" = yes ]; then
		systemctl try-restart patchbay-agent.service || true
	else
		systemctl enable --now patchbay-agent.service
	fi
elif [ "$upgrade" = no ]; then
	# An image: enable the unit offline, as `systemctl enable` would, so the
	# agent starts when the image boots.
	wants="$root/etc/systemd/system/multi-user.target.wants"
	mkdir -p "$wants"
	ln -sf /usr/lib/systemd/system/patchbay-agent.service "$wants/patchbay-agent.service"
fi
exit 0
