"""The test broker's sessions: plain functions with no pytest in them, shared by tests and bench/."""
from __future__ import annotations


def forget_session(url: str, client_id: str) -> None:
    """A clean connect with `client_id`: the broker at `url` drops the persistent session (never
    expiring) a stopped server left, with anything queued for it."""
    import paho.mqtt.client as paho  # only MQTT tests and benches pay for it

    from services.floor.mqtt_consumer import broker_address

    address = broker_address(url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    if address.get("username"):
        client.username_pw_set(address["username"], address.get("password"))
    try:
        client.connect(address["hostname"], address["port"], 5)
        client.loop(1)
        client.disconnect()
    except OSError:
        pass
