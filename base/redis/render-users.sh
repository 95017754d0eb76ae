#!/bin/sh
# render-users.sh USERS_ACL PASSWORD_DIR: each `user NAME RULES` line of USERS_ACL as a redis.conf
# `user` line, enabled, with the SHA-256 of its password (the file PASSWORD_DIR/NAME, a trailing
# newline not counted), so that the password itself is never written out. POSIX sh: run by the Redis
# pod (busybox) and by stack/stack.sh.
set -eu
while read -r keyword name rules; do
  [ "$keyword" = user ] || continue
  hash=$(printf %s "$(cat "$2/$name")" | sha256sum | cut -d' ' -f1)
  printf 'user %s on #%s %s\n' "$name" "$hash" "$rules"
done <"$1"
