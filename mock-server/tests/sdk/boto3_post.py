"""Signs a presigned POST with boto3 and uploads a file with urllib3, as an SDK user would.

Usage: boto3_post.py ENDPOINT BUCKET KEY SIGNATURE_VERSION FILE [CONTENT_TYPE]
With CONTENT_TYPE, the policy also holds ["starts-with", "$Content-Type", "text/"] and the form
sends that Content-Type. Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Prints one JSON object:
the form's url and fields, and the upload's status, headers and body.
"""
import json
import sys

import boto3
import urllib3
from botocore.config import Config

endpoint, bucket, key, version, path = sys.argv[1:6]
content_type = sys.argv[6] if len(sys.argv) > 6 else None
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=Config(signature_version=version, s3={"addressing_style": "path"}),
)
fields = {"success_action_status": "201"}
conditions = [{"success_action_status": "201"}]
if content_type is not None:
    fields["Content-Type"] = content_type
    conditions.append(["starts-with", "$Content-Type", "text/"])
post = s3.generate_presigned_post(
    Bucket=bucket,
    Key=key,
    Fields=fields,
    Conditions=conditions,
    ExpiresIn=600,
)
with open(path, "rb") as f:
    data = f.read()
fields = dict(post["fields"])
fields["file"] = (path.rsplit("/", 1)[-1], data)  # last, as S3 requires
response = urllib3.PoolManager().request("POST", post["url"], fields=fields)
print(json.dumps({
    "url": post["url"],
    "fields": post["fields"],
    "status": response.status,
    "headers": dict(response.headers),
    "body": response.data.decode(),
}))
