"""What every contract-pause service needs: the event contract, topics, settings,
logging, the broker factory and the inbox/outbox/relay mechanism."""
