#!/bin/sh
# The server of docker-compose.yml's `postgres` service in the image deploy/build-images.sh makes from
# Debian's postgresql package. It takes what Docker Hub's postgres image takes, as far as compose uses
# it: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA, and the *.sql files of
# /docker-entrypoint-initdb.d, run once when the data directory is new.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PATH="${bin}:${PATH}"
data=${PGDATA:-/var/lib/postgresql/data}
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-${user}}

if [ ! -s "${data}/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "start-postgres: set POSTGRES_PASSWORD (the password of ${user})" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD}" > "${password_file}"
    initdb -D "${data}" -U "${user}" --pwfile="${password_file}" -A scram-sha-256 --auth-local=trust \
        -E UTF8 --locale=C.UTF-8 > /dev/null
    rm -f "${password_file}"
    # Other containers of the compose network connect over TCP, with the password.
    echo "host all all all scram-sha-256" >> "${data}/pg_hba.conf"
    # A server only this script reaches (no TCP) while the init scripts run, as the Hub image does.
    pg_ctl -D "${data}" -o "-c listen_addresses='' -k /tmp" -w start > /dev/null
    if [ "${database}" != postgres ]; then
        psql -h /tmp -U "${user}" -d postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"${database}\""
    fi
    for script in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "${script}" ] || continue
        echo "start-postgres: running ${script}"
        psql -h /tmp -U "${user}" -d "${database}" -v ON_ERROR_STOP=1 -q -f "${script}"
    done
    pg_ctl -D "${data}" -m fast -w stop > /dev/null
fi
exec postgres -D "${data}" -c listen_addresses='*' -k /tmp
