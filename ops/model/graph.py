"""What the exported graph answers, from one backbone pass: probabilities, the dog score, the
open-set known score, and where the model looked.

    probabilities  [N, C]  softmax of the breed logits
    dog_score      [N]     ImageNet dog mass (only models with a dog head, ops/model/dogness.py)
    known_score    [N]     the energy, logsumexp of the logits: is it a breed the model knows?
                           (ops/model/open_set.py)
    cam            [N,h,w] class activation map of the top breed (Zhou et al. 2016): the head's
                           weights of that breed over the last convolutional feature map, so that
                           its mean plus the breed's bias is the breed's logit. No new weights.

timm models with average pooling answer all of them; other models (ensembles) answer
probabilities and known_score.
"""

from __future__ import annotations

from ops.model.dogness import OUTPUT_NAME as DOG_OUTPUT
from ops.model.open_set import OUTPUT_NAME as KNOWN_OUTPUT

PROBABILITIES = "probabilities"
CAM_OUTPUT = "cam"


def has_feature_map(model) -> bool:
    """Whether the head is a linear layer on the average of a conv feature map (a CAM exists)."""
    pool = getattr(model, "global_pool", None)
    return (
        hasattr(model, "forward_features")
        and hasattr(model, "forward_head")
        and getattr(pool, "pool_type", None) == "avg"
    )


def wrap(model):
    """The logits model as the exported graph (eval mode): see the module docstring."""
    import torch

    from ops.model.dogness import dog_head_of

    class Plain(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            logits = self.inner(x)
            return torch.softmax(logits, dim=1), torch.logsumexp(logits, 1)

    class WithMap(torch.nn.Module):
        def __init__(self, inner, dog_head):
            super().__init__()
            self.inner, self.dog_head = inner, dog_head

        def forward(self, x):
            fmap = self.inner.forward_features(x)
            features = self.inner.forward_head(fmap, pre_logits=True)
            classifier = self.inner.get_classifier()
            logits = classifier(features)
            top = logits.max(1)
            weights = classifier.weight.index_select(0, top.indices)  # [N, K]
            cam = (weights[:, :, None, None] * fmap).sum(1)
            probs, known = torch.softmax(logits, dim=1), torch.logsumexp(logits, 1)
            if self.dog_head is None:
                return probs, known, cam
            return probs, self.dog_head(features), known, cam

    if not has_feature_map(model):
        return Plain(model).eval()
    return WithMap(model, dog_head_of(model)).eval()


def output_names(wrapped) -> list[str]:
    """The graph's output names, in the order the wrapper returns them."""
    if not hasattr(wrapped, "dog_head"):
        return [PROBABILITIES, KNOWN_OUTPUT]
    dog = [DOG_OUTPUT] if wrapped.dog_head is not None else []
    return [PROBABILITIES, *dog, KNOWN_OUTPUT, CAM_OUTPUT]
