#!/bin/sh
# deb-version.sh VERSION: the Debian form of a `git describe --tags
# --always --dirty` version, for the package's version and file name.
#   v1.2.0                 -> 1.2.0
#   v1.2.0-3-gabc1234-dirty -> 1.2.0+3.gabc1234.dirty  (sorts after 1.2.0)
#   abc1234-dirty (no tag) -> 0~git.abc1234+dirty      (sorts before any release)
set -eu
v=${1#v}
case $v in
[0-9]*.[0-9]*) ;;
*) v="0~git.$v" ;;
esac
base=${v%%-*}
if [ "$base" != "$v" ]; then
	rest=${v#*-}
	v="$base+$(printf '%s' "$rest" | tr -- '-' '.')"
fi
# Debian allows letters, digits and . + ~ only (no - without a revision).
printf '%s\n' "$v" | tr -c 'A-Za-z0-9.+~\n' '.'
