#!/usr/bin/env bash
# Builds the images docker-compose.yml and tests/e2e/containers run, from parts reachable without
# Docker Hub: Debian's packages (a debootstrap root filesystem, `docker import`ed), the Kafka jars
# from Maven Central (`python -m ops.kafka_local fetch`) and the project's wheels from PyPI.
#
#   deploy/build-images.sh          # contract-pause/kafka:<version>, contract-pause/postgres:<version>
#                                   # (Debian's postgresql) and contract-pause:local, offline bases
#   KAFKA_IMAGE=apache/kafka:4.1.1 POSTGRES_IMAGE=postgres:15 BASE_IMAGE=python:3.11-slim deploy/build-images.sh
#                                   # Docker Hub's instead
#
# An image whose inputs have not changed is kept (a label holds their digest), so a second run in the
# same CI job, or on the same machine, costs seconds. It prints the variables that name the images.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}
"${python}" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "the wheels are for Python 3.11; set PYTHON to a Python 3.11")'
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/kafka/pom.xml)
jre_image=contract-pause/jre:17
python_image=contract-pause/python:3.11
postgresql_image=contract-pause/postgresql-debian:${suite}
kafka_image=${KAFKA_IMAGE:-contract-pause/kafka:${kafka_version}}
postgres_image=${POSTGRES_IMAGE:-contract-pause/postgres:${suite}}
base_image=${BASE_IMAGE:-${python_image}}
service_image=${SERVICE_IMAGE:-contract-pause:local}

work=$(mktemp -d "${TMPDIR:-/tmp}/contract-pause-images.XXXXXX")
trap 'rm -rf "${work}"' EXIT

say() { printf '[build-images %(%H:%M:%S)T] %s\n' -1 "$*"; }
digest() { sha256sum | cut -c1-16; }
up_to_date() {  # image digest
    [[ $(docker image inspect --format '{{ index .Config.Labels "contract-pause.inputs" }}' "$1" 2>/dev/null) == "$2" ]]
}

# A Debian root filesystem with the given packages, as a base image.
# BuildKit: the classic builder copies the whole root filesystem at every step under the vfs storage driver.
# Newer clients run it through the buildx plugin; Debian's docker.io client (20.10) carries it itself.
build() {
    if docker buildx version > /dev/null 2>&1; then
        docker build "$@"
    elif [[ $(/usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null) == 20.* ]]; then
        DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"
    else
        DOCKER_BUILDKIT=0 docker build "$@"
    fi
}

rootfs_image() {
    local name=$1 packages=$2
    shift 2
    local inputs
    inputs=$(printf '%s\n' "${suite}" "${packages}" "$@" | digest)
    if up_to_date "${name}" "${inputs}"; then
        say "${name} is up to date"
        return
    fi
    local root="${work}/${name//[:\/]/-}"
    say "${name}: debootstrap ${suite} (${packages}) from ${mirror}"
    debootstrap --variant=minbase --include="${packages}" "${suite}" "${root}" "${mirror}" > "${root}.log" 2>&1 \
        || { tail -n 30 "${root}.log"; return 1; }
    rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/lib/apt/lists/* "${root}"/tmp/*
    local changes=(--change "LABEL contract-pause.inputs=${inputs}" --change "ENV LANG=C.UTF-8")
    for change in "$@"; do changes+=(--change "${change}"); done
    tar --numeric-owner -C "${root}" -c . | docker import "${changes[@]}" - "${name}" > /dev/null
    rm -rf "${root}"
    say "${name} imported"
}

if [[ -z ${KAFKA_IMAGE:-} || -z ${BASE_IMAGE:-} || -z ${POSTGRES_IMAGE:-} ]]; then
    command -v debootstrap > /dev/null || { echo "debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
fi
# One debootstrap after the other (two at once contend for the mirror and the disk), beside the jars and wheels.
bases() {
    if [[ -z ${KAFKA_IMAGE:-} ]]; then
        rootfs_image "${jre_image}" openjdk-17-jre-headless,passwd
    fi
    if [[ -z ${BASE_IMAGE:-} ]]; then
        # Debian's pip installs into /usr/local, beside (not over) Debian's own Python packages.
        rootfs_image "${python_image}" python3,python3-pip,python-is-python3,passwd,ca-certificates \
            "ENV PIP_BREAK_SYSTEM_PACKAGES=1" 'CMD ["python"]'
    fi
    if [[ -z ${POSTGRES_IMAGE:-} ]]; then
        # Debian's server, the version of the suite (15 in bookworm); deploy/postgres/ starts it.
        rootfs_image "${postgresql_image}" postgresql,passwd
    fi
}
bases &
bases_pid=$!

say "the Kafka ${kafka_version} jars and the project's wheels"
libs=$("${python}" -m ops.kafka_local fetch | tail -n 1)
rm -rf deploy/wheels
trap 'rm -rf "${work}" deploy/wheels' EXIT
"${python}" -m pip wheel --disable-pip-version-check --progress-bar off -q --wheel-dir deploy/wheels '.[postgres]'
wait "${bases_pid}"

if [[ -z ${KAFKA_IMAGE:-} ]]; then
    context="${work}/kafka"
    mkdir -p "${context}"
    cp deploy/kafka/Dockerfile deploy/kafka/log4j2.properties deploy/kafka/start-kafka.sh \
        deploy/kafka/kafka-broker-api-versions.sh "${context}/"
    cp -r "${libs}" "${context}/libs"
    rm -f "${context}/libs/.complete"
    inputs=$( (docker image inspect --format '{{.Id}}' "${jre_image}"; cd "${context}" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | digest)
    if up_to_date "${kafka_image}" "${inputs}"; then
        say "${kafka_image} is up to date"
    else
        say "building ${kafka_image}"
        build -q --label "contract-pause.inputs=${inputs}" --build-arg "JRE_IMAGE=${jre_image}" \
            -t "${kafka_image}" "${context}" > /dev/null
    fi
else
    docker image inspect "${kafka_image}" > /dev/null 2>&1 || docker pull -q "${kafka_image}"
fi

if [[ -z ${POSTGRES_IMAGE:-} ]]; then
    inputs=$( (docker image inspect --format '{{.Id}}' "${postgresql_image}"; cd deploy/postgres && sha256sum Dockerfile start-postgres.sh) | digest)
    if up_to_date "${postgres_image}" "${inputs}"; then
        say "${postgres_image} is up to date"
    else
        say "building ${postgres_image}"
        build -q --label "contract-pause.inputs=${inputs}" --build-arg "POSTGRES_BASE_IMAGE=${postgresql_image}" \
            -t "${postgres_image}" deploy/postgres > /dev/null
    fi
else
    docker image inspect "${postgres_image}" > /dev/null 2>&1 || docker pull -q "${postgres_image}"
fi

say "building ${service_image} from deploy/Dockerfile on ${base_image}"
build -q --build-arg "BASE_IMAGE=${base_image}" -f deploy/Dockerfile -t "${service_image}" . > /dev/null
rm -rf deploy/wheels

say "done"
echo "KAFKA_IMAGE=${kafka_image}"
echo "POSTGRES_IMAGE=${postgres_image}"
echo "BASE_IMAGE=${base_image}"
echo "SERVICE_IMAGE=${service_image}"
