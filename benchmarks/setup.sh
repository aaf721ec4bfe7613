#!/usr/bin/env bash
# Installs what `make bench` compares against: Debian servers and peers, parfive into the venv.
set -euo pipefail
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        nginx-light vsftpd aria2 axel curl lftp wget wget2 time >/dev/null
fi
.venv/bin/pip install --quiet parfive
