#!/bin/bash
# The health check docker-compose.yml runs, under the apache/kafka image's name for it: succeeds when the
# broker at --bootstrap-server answers an ApiVersions request (no JVM start for a check every few seconds).
set -uo pipefail
bootstrap=localhost:9092
while (($#)); do
    [[ $1 == --bootstrap-server ]] && bootstrap=${2%%,*} && shift
    shift
done
exec 3<> "/dev/tcp/${bootstrap%:*}/${bootstrap##*:}" || exit 1
# size 10 | api_key 18 (ApiVersions) | version 0 | correlation id 1 | client id: empty string
printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00' >&3
answer=$(timeout 5 head -c 8 <&3 | od -An -tx1 | tr -d ' \n')
# The answer's correlation id (bytes 5-8) is the request's.
[[ ${answer} == ????????00000001 ]]
