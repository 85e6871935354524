"""Forms of the federated pages: register a silo, start a federated job."""

from __future__ import annotations

from django import forms

from training.federated.models import FederatedStrategy, PrivacyMode, Silo
from training.models import FoundationModel


class SiloForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "alpha-us"}))
    retailer = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "retailer_alpha"})
    )
    supernode_host = forms.CharField(max_length=200, help_text="Where the silo's SuperNode runs.")
    node_config = forms.CharField(
        max_length=4000,
        widget=forms.TextInput(attrs={"placeholder": 'dataset-path="/srv/silo/train.jsonl"'}),
        help_text="The --node-config the SuperNode starts with; dataset-path is a path on the silo host "
        "(the console never reads it).",
    )
    public_key = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "ecdsa-sha2-nistp384 AAAA…"}),
        help_text="The SuperNode's EC public key (OpenSSH); registered with the SuperLink (node authentication).",
    )


class FederatedJobForm(forms.Form):
    adapter_name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "rmn_domain_fed"})
    )
    base_model = forms.ChoiceField(choices=())
    training_type = forms.ChoiceField(choices=[("sft", "SFT"), ("dpo", "DPO")], initial="sft")
    silos = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple)
    num_rounds = forms.IntegerField(min_value=1, max_value=1000, initial=3)
    local_steps = forms.IntegerField(
        min_value=1, max_value=100_000, initial=10, help_text="Optimizer steps per silo per round."
    )
    fraction_train = forms.FloatField(min_value=0.01, max_value=1.0, initial=1.0)
    min_silos = forms.IntegerField(
        min_value=1, initial=2, help_text="A round fails below this many answering silos."
    )
    strategy = forms.ChoiceField(choices=FederatedStrategy.choices, initial=FederatedStrategy.FEDAVG)
    proximal_mu = forms.FloatField(min_value=0.0, max_value=100.0, initial=0.0, required=False)
    server_learning_rate = forms.FloatField(
        min_value=0.01,
        max_value=100.0,
        initial=1.0,
        required=False,
        help_text="FedAvg: the server's step along the averaged update; about the number of silos closes most of "
        "the gap to central training at the same total steps (1 = plain FedAvg).",
    )
    privacy = forms.ChoiceField(choices=PrivacyMode.choices, initial=PrivacyMode.OFF)
    dp_noise_multiplier = forms.FloatField(min_value=0.0, max_value=100.0, initial=1.0, required=False)
    dp_clipping_norm = forms.FloatField(min_value=1e-6, initial=1.0, required=False)
    dp_delta = forms.FloatField(min_value=1e-12, max_value=0.1, initial=1e-5, required=False)
    lora_r = forms.IntegerField(min_value=1, max_value=256, initial=16)
    lora_alpha = forms.IntegerField(min_value=1, max_value=512, initial=32)
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, initial=2e-4)
    batch_size = forms.IntegerField(min_value=1, max_value=512, initial=4)
    evaluate_each_round = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].choices = [(m.name, m.name) for m in FoundationModel.objects.all()]
        self.fields["silos"].choices = [(s.name, f"{s.name} ({s.retailer})") for s in Silo.objects.all()]

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        config = {k: d[k] for k in ("lora_r", "lora_alpha", "learning_rate", "batch_size")}
        return {
            "adapter_name": d["adapter_name"],
            "base_model": d["base_model"],
            "training_type": d["training_type"],
            "silos": d["silos"],
            "config": config,
            "num_rounds": d["num_rounds"],
            "local_steps": d["local_steps"],
            "fraction_train": d["fraction_train"],
            "min_silos": d["min_silos"],
            "strategy": d["strategy"],
            "proximal_mu": d.get("proximal_mu") or 0.0,
            "server_learning_rate": d.get("server_learning_rate") or 1.0,
            "privacy": d["privacy"],
            "dp_noise_multiplier": d.get("dp_noise_multiplier") or 1.0,
            "dp_clipping_norm": d.get("dp_clipping_norm") or 1.0,
            "dp_delta": d.get("dp_delta") or 1e-5,
            "evaluate_each_round": d.get("evaluate_each_round", False),
        }
