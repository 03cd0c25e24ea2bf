"""What s3meta deploys on AWS, as pure data: names, ARNs, notifications and policies.

No network calls: ``s3meta.operations.setup`` and ``s3meta.aws`` apply what this describes.
Apart from ``s3meta.domain`` because it names the Celery deployment's queues and topics,
which the indexing rules know nothing of.
"""
