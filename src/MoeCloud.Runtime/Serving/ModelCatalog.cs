using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Steps;
using MoeCloud.Model.Kernels;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Runtime.Serving;

/// <summary>The models this pod serves, opened at start-up (a bad checkpoint fails the silo's start with its error).</summary>
public sealed class ModelCatalog : IDisposable
{
    private readonly Dictionary<string, ServedModel> _models = new(StringComparer.Ordinal);

    /// <summary>Opens every model named in the options.</summary>
    public ModelCatalog(IOptions<MoeCloudSiloOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var kernel = new CpuExpertKernel(new ExpertKernelOptions { Threads = options.Value.KernelThreads });
        ExpertBackend = kernel.BackendName;
        KernelDescription = kernel.Description;
        foreach (var (name, dir) in options.Value.Models)
        {
            _models[name] = ServedModel.Open(name, dir, kernel);
        }
    }

    /// <summary>
    /// The expert backend this pod runs (<see cref="CpuExpertKernel.BackendName"/>): the CPU kernels with the bfloat16
    /// path the CPU supports (<c>cpu-avx512</c>, <c>cpu-avx2-fma</c> or <c>cpu-portable</c>, with <c>-managed-gemm</c>
    /// where OpenBLAS is missing); there is no accelerator backend yet.
    /// </summary>
    public string ExpertBackend { get; }

    /// <summary>What the kernels run, in words (<see cref="CpuExpertKernel.Description"/>).</summary>
    public string KernelDescription { get; }

    /// <summary>Served model names.</summary>
    public IReadOnlyCollection<string> Names => _models.Keys;

    /// <summary>The model, or a <see cref="StepException"/> (NotFound) naming the served ones.</summary>
    public ServedModel Get(string name) =>
        _models.TryGetValue(name ?? "", out var model)
            ? model
            : throw new StepException(StepError.NotFound, $"Model '{name}' is not served here (served: {string.Join(", ", _models.Keys.Order(StringComparer.Ordinal))}).");

    /// <summary>The model, or null.</summary>
    public ServedModel? Find(string name) => _models.GetValueOrDefault(name);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var model in _models.Values)
        {
            model.Dispose();
        }
    }
}
