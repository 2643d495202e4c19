#!/usr/bin/env bash
set -euo pipefail
BIN=$1 REF=$2
W=$(mktemp -d); mkdir -p $W/rootfs; cp $BIN $W/rootfs/pause
python3 - "$W" <<'PY'
import hashlib, json, os, sys, tarfile, io, gzip
w=sys.argv[1]; os.makedirs(w+'/oci/blobs/sha256', exist_ok=True)
def blob(b):
    d=hashlib.sha256(b).hexdigest(); open(f'{w}/oci/blobs/sha256/{d}','wb').write(b); return 'sha256:'+d, len(b)
buf=io.BytesIO(); t=tarfile.open(fileobj=buf, mode='w')
ti=t.gettarinfo(w+'/rootfs/pause', 'pause'); ti.uid=ti.gid=0; ti.mtime=0; ti.uname=ti.gname=''
t.addfile(ti, open(w+'/rootfs/pause','rb')); t.close(); raw=buf.getvalue()
diff='sha256:'+hashlib.sha256(raw).hexdigest(); ld,ls=blob(gzip.compress(raw, mtime=0))
cfg={"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":[diff]}}
cd,cs=blob(json.dumps(cfg).encode())
m={"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":cs},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":ld,"size":ls}]}
md,ms=blob(json.dumps(m).encode())
json.dump({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":md,"size":ms,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}, open(w+'/oci/index.json','w'))
json.dump({"imageLayoutVersion":"1.0.0"}, open(w+'/oci/oci-layout','w'))
PY
skopeo copy --dest-tls-verify=false oci:$W/oci:1 docker://$REF
rm -rf $W
