"""EventBridge rule metrics in CloudWatch (``AWS/Events``), as EventBridge publishes them.

LocalStack's EventBridge publishes no CloudWatch metric (only its own internal usage counters).
The plugin counts, per rule, in the rule's account and region:

* ``TriggeredRules``: the rule matched an event (event-pattern rules; wraps
  ``EventsProvider._process_rules``, which LocalStack runs per rule on a background thread after
  ``PutEvents`` answered, so the extra pattern match never slows ``PutEvents``);
* ``Invocations``: a target was invoked for it (successful or not), ``FailedInvocations``: the
  delivery to the target failed (wraps ``TargetSender.process_event``, which every target kind,
  the plugin's CodePipeline sender included, goes through; archives are not targets).

Dimensions: ``RuleName`` for a rule of the default bus, ``EventBusName`` and ``RuleName`` for a
rule of a custom bus (as AWS documents); unit ``Count``. Counting is a locked dict update; a
background thread publishes the counts every ``RELAY_EVENTS_METRICS_FLUSH`` seconds (default 1;
AWS publishes every minute) with one ``PutMetricData`` per account and region (``Values [1]`` /
``Counts [n]``: ``Sum`` and ``SampleCount`` are the number of occurrences). A failed publish is
logged. Not emulated: ``MatchedEvents``, ``DeadLetterInvocations``, ``ThrottledRules``, latency
and ``InvocationAttempts`` metrics.
"""

from __future__ import annotations

import logging
import os
import threading

from localstack.utils.patch import Patches

from relay_emulator.common import in_memory, internal_client, now
from relay_emulator.core.service_events import (
    FAILED_INVOCATIONS,
    INVOCATIONS,
    METRICS_NAMESPACE,
    TRIGGERED_RULES,
    RuleMetrics,
)

LOG = logging.getLogger("relay_emulator.rule_metrics")
PATCHES = Patches()
FLUSH_INTERVAL = float(os.environ.get("RELAY_EVENTS_METRICS_FLUSH", "1.0"))


class Publisher:
    def __init__(self):
        self.metrics = RuleMetrics()
        self._clients: dict[tuple[str, str], object] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def add(self, account: str, region: str, bus: str | None, rule: str, metric: str) -> None:
        self.metrics.add(account, region, bus, rule, metric)
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="relay-events-metrics", daemon=True)
                    self._thread.start()

    def _client(self, account: str, region: str):
        client = self._clients.get((account, region))
        if client is None:
            from botocore.config import Config

            client = internal_client("cloudwatch", region, account, config=Config(retries={"max_attempts": 2}))
            in_memory(client)
            self._clients[(account, region)] = client
        return client

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        for account, region, data in self.metrics.drain(now()):
            try:
                self._client(account, region).put_metric_data(Namespace=METRICS_NAMESPACE, MetricData=data)
            except Exception:
                LOG.exception("could not publish %d EventBridge rule metrics in %s/%s", len(data), account, region)


PUBLISHER = Publisher()


def install() -> None:
    """Patch LocalStack's EventBridge rule processing and target senders (idempotent)."""
    if PATCHES.patches:
        return
    from localstack.services.events import provider as events_provider
    from localstack.services.events.target import TargetSender
    from localstack.services.events.utils import extract_event_bus_name

    def process_rules(original, self, rule, region, account_id, event_formatted, trace_header):
        try:
            if events_provider.matches_event(rule.event_pattern, event_formatted):
                PUBLISHER.add(account_id, region, rule.event_bus_name, rule.name, TRIGGERED_RULES)
        except Exception:  # the rule itself reports a bad pattern; a metric must not break it
            LOG.debug("TriggeredRules not counted for %s", getattr(rule, "arn", "?"), exc_info=True)
        return original(self, rule, region, account_id, event_formatted, trace_header)

    def process_event(original, self, event, trace_header):
        bus = extract_event_bus_name(self.rule_arn)
        try:
            result = original(self, event, trace_header)
        except Exception:
            PUBLISHER.add(self.account_id, self.region, bus, self.rule_name, INVOCATIONS)
            PUBLISHER.add(self.account_id, self.region, bus, self.rule_name, FAILED_INVOCATIONS)
            raise
        PUBLISHER.add(self.account_id, self.region, bus, self.rule_name, INVOCATIONS)
        return result

    PATCHES.function(events_provider.EventsProvider._process_rules, process_rules)
    PATCHES.function(TargetSender.process_event, process_event)
    PATCHES.apply()
    LOG.info("relay EventBridge rule metrics installed (published every %.1fs)", FLUSH_INTERVAL)
