"""notification: tells freelancers and clients when contracts pause, resume or block time, and
clients what to fix in their billing. Outbox to `notifications`, an in-app inbox, signed webhooks."""
