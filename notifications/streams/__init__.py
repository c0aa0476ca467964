"""Live event streams over WebSockets (Channels): consumers, tickets, the publisher.

``publish(rows)`` is the dispatcher's stream sink (notifications.sinks).
"""


def publish(rows) -> int:
    from notifications.streams.publish import publish as _publish

    return _publish(rows)
