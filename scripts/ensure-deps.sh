#!/usr/bin/env bash
# Makes sure the programs the integration tests start are installed.
# As root, or with CI=true, it installs missing Debian packages; otherwise it
# says what to install, and the tests that need them skip.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
pg_bin() { have postgres || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }

pg_bin || missing+=(postgresql)
{ have mariadbd && have mariadb-install-db; } || missing+=(mariadb-server)
have haproxy || missing+=(haproxy)
have redis-server || missing+=(redis-server)
{ have chromium && have chromedriver; } || missing+=(chromium chromium-driver)
{ have nft || [ -x /usr/sbin/nft ]; } || missing+=(nftables)
have promtool || missing+=(prometheus)   # promtool check metrics on /metrics (no server is started)
have zsh || missing+=(zsh) # the zsh completion test
# The several-nodes test runs keepalived (VRRP) in network namespaces.
{ have keepalived || [ -x /usr/sbin/keepalived ]; } || missing+=(keepalived)
# The openstack CLI test: python3-octaviaclient adds the loadbalancer
# commands to python3-openstackclient's /usr/bin/openstack (a dependency).
{ [ -x /usr/bin/openstack ] && [ -d /usr/lib/python3/dist-packages/octaviaclient ]; } || missing+=(python3-openstackclient python3-octaviaclient)
# systemd-analyze verifies the units; the package test installs the .deb
# with dpkg and looks up its man page with man.
have systemd-analyze || missing+=(systemd)
have dpkg-deb || missing+=(dpkg)
have man || missing+=(man-db)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] || [ "${CI:-}" = true ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "The integration tests need: ${missing[*]}"
  echo "Install them with:  sudo apt-get install ${missing[*]}"
  echo "(or run make test as root, or with CI=true). Until then those tests skip."
fi
