#!/usr/bin/env python3
# Writes rpm-qa-<image without dash>.txt: what `rpm --root ROOT -qa --qf FORMAT` (see
# rpmQueryFormat in rpm.go) prints for the packages trivy found in a real
# image. Input: /work/shared/data/inventories/package-lists/trivy-<image>.json
# (aquasecurity/trivy goldens, Apache-2.0). Epoch 0 is printed as rpm prints
# an unset EPOCH: "(none)". Run once; the output is committed.
import json, sys

for image in sys.argv[1:]:
    pkgs = json.load(open(f"/work/shared/data/inventories/package-lists/trivy-{image}.json"))
    with open(f"rpm-qa-{image.replace('-', '')}.txt", "w") as out:
        for p in pkgs:
            epoch = str(p["Epoch"]) if p.get("Epoch") else "(none)"
            srpm = f'{p["SrcName"]}-{p["SrcVersion"]}-{p["SrcRelease"]}.src.rpm'
            out.write("\t".join([p["Name"], epoch, p["Version"], p["Release"], p["Arch"], srpm]) + "\n")
