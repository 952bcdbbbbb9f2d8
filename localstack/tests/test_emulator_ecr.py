"""ECR from the plugin (moto behind our provider): what Terraform's aws_ecr_* resources call,
round-tripped exactly, and registry replication of images put with PutImage."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ACCOUNT, ENDPOINT, HOME, NOT_YET, TARGET_A, TARGET_B, client

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

MEDIA = "application/vnd.docker.distribution.manifest.v2+json"


def manifest(seed: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": seed},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": seed}],
        }
    )


def repository(res, region: str, name: str, **kwargs) -> dict:
    ecr = client("ecr", region)
    repo = ecr.create_repository(repositoryName=name, **kwargs)["repository"]
    res.defer(ecr.delete_repository, repositoryName=name, force=True)
    return repo


def delete_everywhere(name: str, *regions: str):
    for region in regions:
        try:
            client("ecr", region).delete_repository(repositoryName=name, force=True)
        except ClientError:
            pass


def replicate_to(res, rules: list) -> None:
    ecr = client("ecr", HOME)
    ecr.put_replication_configuration(replicationConfiguration={"rules": rules})
    res.defer(ecr.put_replication_configuration, replicationConfiguration={"rules": []})


def dest(region: str) -> dict:
    return {"region": region, "registryId": ACCOUNT}


def image_in(region: str, name: str, tag: str, timeout: float = 10) -> dict:
    ecr = client("ecr", region)
    return wait_for(
        f"image {tag} of {name} in {region}",
        lambda: ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])["imageDetails"][0],
        timeout=timeout,
        retry_on=NOT_YET,
    )


def test_repository_settings_round_trip(res):
    kms = client("kms", HOME)
    key = kms.create_key(Description="ecr")["KeyMetadata"]["Arn"]
    name = res.name("relay/app")
    ecr = client("ecr", HOME)
    created = repository(
        res,
        HOME,
        name,
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key},
        tags=[{"Key": "team", "Value": "relay"}],
    )
    got = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert got == created
    assert got["repositoryArn"] == f"arn:aws:ecr:{HOME}:{ACCOUNT}:repository/{name}"
    assert got["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.{HOME}.amazonaws.com/{name}"
    assert got["imageTagMutability"] == "IMMUTABLE"
    assert got["imageScanningConfiguration"] == {"scanOnPush": True}
    assert got["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}
    assert ecr.list_tags_for_resource(resourceArn=got["repositoryArn"])["tags"] == [{"Key": "team", "Value": "relay"}]

    ecr.put_image_scanning_configuration(repositoryName=name, imageScanningConfiguration={"scanOnPush": False})
    ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="MUTABLE")
    got = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert got["imageScanningConfiguration"] == {"scanOnPush": False} and got["imageTagMutability"] == "MUTABLE"

    plain = repository(res, HOME, res.name("relay/plain"))
    assert plain["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert plain["imageTagMutability"] == "MUTABLE"


def test_repository_with_missing_kms_key_is_refused(res):
    name = res.name("relay/nokey")
    ecr = client("ecr", HOME)
    missing = f"arn:aws:kms:{HOME}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as e:
        ecr.create_repository(repositoryName=name, encryptionConfiguration={"encryptionType": "KMS", "kmsKey": missing})
    assert e.value.response["Error"]["Code"] == "KmsException"
    with pytest.raises(ClientError) as e:
        ecr.describe_repositories(repositoryNames=[name])
    assert e.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_lifecycle_and_registry_policy_round_trip(res):
    name = res.name("relay/life")
    ecr = client("ecr", HOME)
    repository(res, HOME, name)
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "keep the last 30 images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    put = ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy)
    assert put["lifecyclePolicyText"] == policy
    got = ecr.get_lifecycle_policy(repositoryName=name)
    assert got["lifecyclePolicyText"] == policy and got["repositoryName"] == name and got["registryId"] == ACCOUNT
    ecr.delete_lifecycle_policy(repositoryName=name)
    with pytest.raises(ClientError) as e:
        ecr.get_lifecycle_policy(repositoryName=name)
    assert e.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"

    registry_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "replicate",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                    "Resource": f"arn:aws:ecr:{TARGET_A}:{ACCOUNT}:repository/*",
                }
            ],
        }
    )
    ecr_a = client("ecr", TARGET_A)
    ecr_a.put_registry_policy(policyText=registry_policy)
    res.defer(ecr_a.delete_registry_policy)
    got = ecr_a.get_registry_policy()
    assert got["policyText"] == registry_policy and got["registryId"] == ACCOUNT


def test_replication_configuration_round_trip_and_checks(res):
    ecr = client("ecr", HOME)
    rules = [
        {
            "destinations": [dest(TARGET_A), dest(TARGET_B)],
            "repositoryFilters": [{"filter": "relay/", "filterType": "PREFIX_MATCH"}],
        },
        {"destinations": [dest("us-east-1")]},
    ]
    replicate_to(res, rules)
    assert ecr.describe_registry()["replicationConfiguration"] == {"rules": rules}
    assert ecr.describe_registry()["registryId"] == ACCOUNT
    with pytest.raises(ClientError) as e:
        ecr.put_replication_configuration(replicationConfiguration={"rules": [{"destinations": [dest(HOME)]}]})
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "cannot be the same" in e.value.response["Error"]["Message"]
    assert ecr.describe_registry()["replicationConfiguration"] == {"rules": rules}  # unchanged
    ecr.put_replication_configuration(replicationConfiguration={"rules": []})
    assert ecr.describe_registry()["replicationConfiguration"] == {"rules": []}


def test_image_replicates_to_two_regions_with_same_digest(res):
    name = res.name("relay/img")
    res.defer(delete_everywhere, name, TARGET_A, TARGET_B)
    repository(res, HOME, name, imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True})
    repository(res, TARGET_A, name, imageTagMutability="IMMUTABLE")  # exists already in A; created in B
    replicate_to(
        res,
        [
            {
                "destinations": [dest(TARGET_A), dest(TARGET_B)],
                "repositoryFilters": [{"filter": "relay/", "filterType": "PREFIX_MATCH"}],
            }
        ],
    )
    body = manifest("sha256:" + "1" * 64)
    put = client("ecr", HOME).put_image(repositoryName=name, imageManifest=body, imageTag="v1")["image"]
    digest = put["imageId"]["imageDigest"]
    assert put["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    for region in (TARGET_A, TARGET_B):
        got = image_in(region, name, "v1")
        assert got["imageDigest"] == digest and got["imageTags"] == ["v1"]
        batch = client("ecr", region).batch_get_image(repositoryName=name, imageIds=[{"imageDigest": digest}])
        assert batch["images"][0]["imageManifest"] == body
    statuses = client("ecr", HOME).describe_image_replication_status(repositoryName=name, imageId={"imageTag": "v1"})
    assert statuses["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert sorted((s["region"], s["registryId"], s["status"]) for s in statuses["replicationStatuses"]) == sorted(
        [(TARGET_A, ACCOUNT, "COMPLETE"), (TARGET_B, ACCOUNT, "COMPLETE")]
    )
    created = client("ecr", TARGET_B).describe_repositories(repositoryNames=[name])["repositories"][0]
    assert created["imageTagMutability"] == "MUTABLE"  # ECR's defaults for a repository replication creates
    assert created["encryptionConfiguration"] == {"encryptionType": "AES256"}

    # another tag on the same image replicates too
    client("ecr", HOME).put_image(repositoryName=name, imageManifest=body, imageTag="stable")
    for region in (TARGET_A, TARGET_B):
        assert image_in(region, name, "stable")["imageDigest"] == digest


def test_filter_excludes_other_repositories(res):
    included, excluded = res.name("relay/in"), res.name("other/out")
    res.defer(delete_everywhere, included, TARGET_A)
    res.defer(delete_everywhere, excluded, TARGET_A)
    repository(res, HOME, included)
    repository(res, HOME, excluded)
    replicate_to(
        res,
        [{"destinations": [dest(TARGET_A)], "repositoryFilters": [{"filter": "relay/", "filterType": "PREFIX_MATCH"}]}],
    )
    ecr = client("ecr", HOME)
    ecr.put_image(repositoryName=excluded, imageManifest=manifest("sha256:" + "2" * 64), imageTag="v1")
    ecr.put_image(repositoryName=included, imageManifest=manifest("sha256:" + "3" * 64), imageTag="v1")
    image_in(TARGET_A, included, "v1")  # replication is ordered: the excluded put was handled before
    with pytest.raises(ClientError) as e:
        client("ecr", TARGET_A).describe_repositories(repositoryNames=[excluded])
    assert e.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_immutable_tag_is_refused_and_not_replicated(res):
    name = res.name("relay/immutable")
    res.defer(delete_everywhere, name, TARGET_A)
    repository(res, HOME, name, imageTagMutability="IMMUTABLE")
    replicate_to(res, [{"destinations": [dest(TARGET_A)]}])
    ecr = client("ecr", HOME)
    first = ecr.put_image(repositoryName=name, imageManifest=manifest("sha256:" + "4" * 64), imageTag="v1")
    digest = first["image"]["imageId"]["imageDigest"]
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=name, imageManifest=manifest("sha256:" + "5" * 64), imageTag="v1")
    assert e.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
    assert "immutable" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=name, imageManifest=manifest("sha256:" + "4" * 64), imageTag="v1")
    assert e.value.response["Error"]["Code"] == "ImageAlreadyExistsException"
    images = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert [(i["imageDigest"], i["imageTags"]) for i in images] == [(digest, ["v1"])]
    assert image_in(TARGET_A, name, "v1")["imageDigest"] == digest
    time.sleep(0.3)  # nothing else arrives
    assert len(client("ecr", TARGET_A).describe_images(repositoryName=name)["imageDetails"]) == 1


def test_destination_tag_conflict_fails_the_replication(res):
    name = res.name("relay/conflict")
    repository(res, HOME, name)
    repository(res, TARGET_A, name, imageTagMutability="IMMUTABLE")
    there = client("ecr", TARGET_A).put_image(repositoryName=name, imageManifest=manifest("a"), imageTag="v1")
    replicate_to(res, [{"destinations": [dest(TARGET_A)]}])
    ecr = client("ecr", HOME)
    ecr.put_image(repositoryName=name, imageManifest=manifest("b"), imageTag="v1")

    def settled():
        got = ecr.describe_image_replication_status(repositoryName=name, imageId={"imageTag": "v1"})
        status = got["replicationStatuses"][0]
        return status if status["status"] != "IN_PROGRESS" else None

    status = wait_for("replication status", settled, timeout=10)
    assert status == {
        "region": TARGET_A,
        "registryId": ACCOUNT,
        "status": "FAILED",
        "failureCode": "REPLICATION_FAILED",
    }
    images = client("ecr", TARGET_A).describe_images(repositoryName=name)["imageDetails"]
    assert [i["imageDigest"] for i in images] == [there["image"]["imageId"]["imageDigest"]]


def test_scans_are_not_faked(res):
    name = res.name("relay/scan")
    repository(res, HOME, name, imageScanningConfiguration={"scanOnPush": True})
    ecr = client("ecr", HOME)
    ecr.put_image(repositoryName=name, imageManifest=manifest("s"), imageTag="v1")
    with pytest.raises(ClientError) as e:
        ecr.describe_image_scan_findings(repositoryName=name, imageId={"imageTag": "v1"})
    assert e.value.response["Error"]["Code"] == "ScanNotFoundException"
    with pytest.raises(ClientError) as e:
        ecr.start_image_scan(repositoryName=name, imageId={"imageTag": "v1"})
    assert "not emulated" in e.value.response["Error"]["Message"]


def test_put_image_errors(res):
    ecr = client("ecr", HOME)
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=res.name("relay/none"), imageManifest=manifest("x"), imageTag="v1")
    assert e.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    name = res.name("relay/digest")
    repository(res, HOME, name)
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=name, imageManifest=manifest("x"), imageDigest="sha256:" + "0" * 64)
    assert e.value.response["Error"]["Code"] == "ImageDigestDoesNotMatchException"
    # a mutable tag moves to the new image
    ecr.put_image(repositoryName=name, imageManifest=manifest("a"), imageTag="latest")
    moved = ecr.put_image(repositoryName=name, imageManifest=manifest("b"), imageTag="latest")
    got = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": "latest"}])["imageDetails"][0]
    assert got["imageDigest"] == moved["image"]["imageId"]["imageDigest"]


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def test_replication_latency(res):
    """PutImage in home -> the image describable in the target, over 50 images (p50/p95 printed)."""
    name = res.name("relay/latency")
    res.defer(delete_everywhere, name, TARGET_A, TARGET_B)
    repository(res, HOME, name, imageTagMutability="IMMUTABLE")
    replicate_to(res, [{"destinations": [dest(TARGET_A), dest(TARGET_B)]}])
    home = client("ecr", HOME)
    targets = [client("ecr", TARGET_A), client("ecr", TARGET_B)]
    latencies = []
    for i in range(50):
        tag = f"v{i}"
        started = time.perf_counter()
        put = home.put_image(repositoryName=name, imageManifest=manifest(f"sha256:{i:064x}"), imageTag=tag)
        digest = put["image"]["imageId"]["imageDigest"]
        target = targets[i % 2]
        deadline = started + 10
        while True:
            try:
                got = target.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])["imageDetails"][0]
                assert got["imageDigest"] == digest
                break
            except ClientError:
                assert time.perf_counter() < deadline, f"image {tag} not replicated within 10 s"
                time.sleep(0.002)
        latencies.append(time.perf_counter() - started)
    p50, p95 = nearest_rank(latencies, 50), nearest_rank(latencies, 95)
    n = len(latencies)
    print(f"\nECR image replication latency over {n} images: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    for target in targets:  # every image reached both regions, none lost
        assert len(target.describe_images(repositoryName=name)["imageDetails"]) == 50
    assert p95 < 5


def _mirror() -> Path:
    return Path(os.environ.get("RELAY_TF_MIRROR", "/opt/tf-plugins"))


@pytest.mark.terraform
@pytest.mark.skipif(
    shutil.which("terraform") is None or not (_mirror() / "registry.terraform.io/hashicorp/aws").is_dir(),
    reason="terraform or the AWS provider in RELAY_TF_MIRROR (offline) is missing",
)
def test_terraform_round_trip(tmp_path, uid):
    """Terraform's aws_ecr_* resources apply, plan no changes (every field read back as written),
    replicate an image, and destroy against the emulator (~40 s: the AWS provider starts three
    times; deselect with ``-m "not terraform"``)."""
    (tmp_path / "tf.rc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{ path = "{_mirror()}" }}\n'
        '  direct { exclude = ["*/*/*"] }\n}\n'
    )
    (tmp_path / "main.tf").write_text(
        textwrap.dedent(
            f"""
            terraform {{
              required_providers {{
                aws = {{ source = "hashicorp/aws" }}
              }}
            }}
            provider "aws" {{
              region                      = "{HOME}"
              access_key                  = "test"
              secret_key                  = "test"
              skip_credentials_validation = true
              skip_metadata_api_check     = true
              endpoints {{
                ecr = "{ENDPOINT}"
                kms = "{ENDPOINT}"
                sts = "{ENDPOINT}"
              }}
            }}
            resource "aws_kms_key" "k" {{ description = "ecr {uid}" }}
            resource "aws_ecr_repository" "app" {{
              name                 = "tf-{uid}/app"
              image_tag_mutability = "IMMUTABLE"
              force_delete         = true
              image_scanning_configuration {{ scan_on_push = true }}
              encryption_configuration {{
                encryption_type = "KMS"
                kms_key         = aws_kms_key.k.arn
              }}
              tags = {{ team = "relay" }}
            }}
            resource "aws_ecr_lifecycle_policy" "app" {{
              repository = aws_ecr_repository.app.name
              policy = jsonencode({{ rules = [{{ rulePriority = 1, description = "keep 30",
                selection = {{ tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }},
                action = {{ type = "expire" }} }}] }})
            }}
            resource "aws_ecr_registry_policy" "p" {{
              policy = jsonencode({{ Version = "2012-10-17", Statement = [{{ Sid = "replicate", Effect = "Allow",
                Principal = {{ AWS = "arn:aws:iam::{ACCOUNT}:root" }},
                Action = ["ecr:ReplicateImage", "ecr:CreateRepository"],
                Resource = "arn:aws:ecr:{HOME}:{ACCOUNT}:repository/*" }}] }})
            }}
            resource "aws_ecr_replication_configuration" "r" {{
              replication_configuration {{
                rule {{
                  destination {{
                    region      = "{TARGET_A}"
                    registry_id = "{ACCOUNT}"
                  }}
                  destination {{
                    region      = "{TARGET_B}"
                    registry_id = "{ACCOUNT}"
                  }}
                  repository_filter {{
                    filter      = "tf-{uid}/"
                    filter_type = "PREFIX_MATCH"
                  }}
                }}
              }}
            }}
            """
        )
    )
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(tmp_path / "tf.rc"),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }

    def tf(*args: str, ok: tuple[int, ...] = (0,)) -> int:
        done = subprocess.run(
            ["terraform", *args, "-input=false", "-no-color"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode in ok, done.stdout[-3000:] + done.stderr[-3000:]
        return done.returncode

    tf("init")
    try:
        tf("apply", "-auto-approve")
        assert tf("plan", "-detailed-exitcode", ok=(0, 2)) == 0, "a second plan must show no changes"
        name = f"tf-{uid}/app"
        put = client("ecr", HOME).put_image(
            repositoryName=name, imageManifest=manifest("sha256:" + "9" * 64), imageTag="v1"
        )
        for region in (TARGET_A, TARGET_B):
            assert image_in(region, name, "v1")["imageDigest"] == put["image"]["imageId"]["imageDigest"]
            client("ecr", region).delete_repository(repositoryName=name, force=True)
    finally:
        tf("destroy", "-auto-approve")
    assert client("ecr", HOME).describe_registry()["replicationConfiguration"] == {"rules": []}
