"""Demo data mirroring the five published seed pages: their facts and figures, our own words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.rules import DEFAULT_SEATS


@dataclass(frozen=True)
class DemoVerdict:
    seat: str
    reviewer: str
    decision: Literal["ship", "skip"]
    text: str


@dataclass(frozen=True)
class DemoTool:
    slug: str
    name: str
    category: str
    tagline: str
    description: str
    pricing: str
    verdicts: tuple[DemoVerdict, ...]


def _panel(
    builder: tuple[Literal["ship", "skip"], str],
    skeptic: tuple[Literal["ship", "skip"], str],
    buyer: tuple[Literal["ship", "skip"], str],
    futurist: tuple[Literal["ship", "skip"], str],
) -> tuple[DemoVerdict, ...]:
    decided = (builder, skeptic, buyer, futurist)
    seats = tuple(zip(DEFAULT_SEATS, decided, strict=True))
    return tuple(DemoVerdict(s, s.title(), d, t) for s, (d, t) in seats)


TOOLS: tuple[DemoTool, ...] = (
    DemoTool(
        slug="claude-files-api",
        name="Claude Files API",
        category="Developer Tools",
        tagline="Upload a document once, point Claude at it from any later call",
        description=(
            "A beta API that stores files server-side and hands back an id, so repeated calls "
            "stop resending the same long context."
        ),
        pricing="Paid",
        verdicts=_panel(
            ("ship", "A file handle is the right abstraction: upload, keep the id, reuse it."),
            (
                "ship",
                "Rivals had this first and beta terms need watching, but it saves real money.",
            ),
            ("ship", "Lower per-call cost for heavy users, and stored ids make switching costly."),
            ("ship", "Long-running agents need durable documents; this is early plumbing for it."),
        ),
    ),
    DemoTool(
        slug="llama-4-compact-12b",
        name="Llama 4 Compact (12B)",
        category="Developer Tools",
        tagline="A 12B open model tuned to run on phones and edge boxes",
        description=(
            "Meta's quantised 12-billion-parameter model for local inference, with weights on "
            "Hugging Face under the Llama community licence."
        ),
        pricing="Free",
        verdicts=_panel(
            ("ship", "Just weights and a model card: loads in common runtimes with no account."),
            ("ship", "A crowded field and unverified benchmarks, yet the best pick for on-device."),
            ("ship", "A distribution play, not a product; the licence limits some commercial use."),
            (
                "ship",
                "If inference moves onto devices, free capable weights shift who holds power.",
            ),
        ),
    ),
    DemoTool(
        slug="llama-4-scout-quantized",
        name="Llama 4 Scout Quantized",
        category="Developer Tools",
        tagline="INT4 and INT8 Scout weights small enough for an 8 GB device",
        description=(
            "Quantised builds of Llama 4 Scout for offline, private and low-latency apps on "
            "mobile and edge hardware, downloadable today."
        ),
        pricing="Free",
        verdicts=_panel(
            ("ship", "Two ready quantisations remove the hardest step of shipping a local model."),
            ("ship", "Expect accuracy loss at INT4; still the strongest open option at this size."),
            ("ship", "No price, but it pulls developers into an ecosystem Meta shapes."),
            ("ship", "Privacy rules and latency both push inference to the edge; this rides that."),
        ),
    ),
    DemoTool(
        slug="smollm3",
        name="SmolLM3",
        category="Developer Tools",
        tagline="A 3B open model that fine-tunes on one consumer GPU",
        description=(
            "Hugging Face's Apache-2.0 small language model, built to be fine-tuned and run "
            "locally without a cloud bill."
        ),
        pricing="Free",
        verdicts=_panel(
            ("ship", "Permissive licence and one-line loading: fine-tuning at home just works."),
            ("ship", "Small models all claim top scores; the licence tips it, barely, to ship."),
            ("skip", "Nothing here to sell or defend; anyone can fork it. Not a business bet."),
            ("ship", "Capable small models move AI toward small teams; this one is on time."),
        ),
    ),
    DemoTool(
        slug="claude-haiku-open-weights",
        name="Claude Haiku Open Weights",
        category="Developer Tools",
        tagline="Anthropic's first downloadable weights, for research only",
        description=(
            "Haiku weights released under a non-commercial research licence; the larger Claude "
            "models stay behind the API."
        ),
        pricing="Free",
        verdicts=_panel(
            ("ship", "Runs locally with no key; for experiments and research that is enough."),
            ("skip", "Fully open rivals can be deployed; this licence stops you at the product."),
            ("skip", "No paid path leads out of the research licence, so no buyer exists."),
            ("ship", "The precedent matters more than the model: watch for larger weights next."),
        ),
    ),
    DemoTool(
        slug="smolvlm2-turbo",
        name="SmolVLM2 Turbo",
        category="Developer Tools",
        tagline="A vision-language model under 2B that runs on a phone",
        description=(
            "Hugging Face's compact open model that reads images and text together, meant to be "
            "embedded in apps that cannot call a cloud API."
        ),
        pricing="Free",
        verdicts=_panel(
            ("ship", "Images and text in one small local model: few tools make this so easy."),
            ("ship", "Cloud vision models are stronger, but none work offline; this one does."),
            ("ship", "Free to embed, and a steady reason to stay on the Hugging Face Hub."),
            ("ship", "Cameras are everywhere; small local vision models will be plumbing soon."),
        ),
    ),
)

COMPARISONS: tuple[tuple[str, str], ...] = (
    ("claude-files-api", "claude-haiku-open-weights"),
    ("claude-files-api", "llama-4-compact-12b"),
    ("claude-files-api", "llama-4-scout-quantized"),
    ("claude-files-api", "smollm3"),
    ("claude-files-api", "smolvlm2-turbo"),
)
