namespace MoeCloud.Abstractions;

/// <summary>
/// One expert replica: holds its weights (loaded on activation, only its own bytes) and runs the expert FFN.
/// Keyed by <see cref="ExpertReplicaKey"/>; placed on the pod its key names.
/// </summary>
[Alias("moecloud.expert")]
public interface IExpertGrain : IGrainWithStringKey
{
    /// <summary>Runs the expert FFN on a batch of (already normalised) hidden states; returns the expert outputs.</summary>
    [Alias("compute")]
    Task<HiddenStates> Compute(HiddenStates input);

    /// <summary>Loads the weights (if not yet) and runs the kernel once, so the first real request is not slow.</summary>
    [Alias("warm")]
    Task<ExpertReplicaStatus> Warm();

    /// <summary>Stops accepting new work once in-flight calls drain, then deactivates.</summary>
    [Alias("retire")]
    Task Retire();
}

/// <summary>What a replica reports after warming.</summary>
/// <param name="Silo">The silo the activation runs on.</param>
/// <param name="WeightBytes">Bytes of weights it holds.</param>
/// <param name="Calls">Kernel calls served so far.</param>
[GenerateSerializer, Immutable, Alias("moecloud.expert-status")]
public sealed record ExpertReplicaStatus([property: Id(0)] string Silo, [property: Id(1)] long WeightBytes, [property: Id(2)] long Calls);
