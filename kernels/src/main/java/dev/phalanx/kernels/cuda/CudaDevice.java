package dev.phalanx.kernels.cuda;

import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_TF32_TENSOR_OP_MATH;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasSetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSetWorkspace_v2;
import static org.bytedeco.cuda.global.cublas.cublasSgemm_v2;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;
import static org.bytedeco.cuda.global.cudart.cudaDevAttrComputeCapabilityMajor;
import static org.bytedeco.cuda.global.cudart.cudaDevAttrComputeCapabilityMinor;
import static org.bytedeco.cuda.global.cudart.cudaDeviceGetAttribute;
import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaErrorMemoryAllocation;
import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDefault;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventQuery;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetLastError;
import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;
import static org.bytedeco.cuda.global.cudart.cudaMemGetInfo;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;
import static org.bytedeco.cuda.global.cudnn.CUDNN_CROSS_CORRELATION;
import static org.bytedeco.cuda.global.cudnn.CUDNN_DATA_FLOAT;
import static org.bytedeco.cuda.global.cudnn.CUDNN_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cudnn.CUDNN_DETERMINISTIC;
import static org.bytedeco.cuda.global.cudnn.CUDNN_FMA_MATH;
import static org.bytedeco.cuda.global.cudnn.CUDNN_STATUS_SUCCESS;
import static org.bytedeco.cuda.global.cudnn.CUDNN_TENSOR_NCHW;
import static org.bytedeco.cuda.global.cudnn.CUDNN_TENSOR_OP_MATH;
import static org.bytedeco.cuda.global.cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
import static org.bytedeco.cuda.global.cudnn.cudnnConvolutionBackwardData;
import static org.bytedeco.cuda.global.cudnn.cudnnConvolutionBackwardFilter;
import static org.bytedeco.cuda.global.cudnn.cudnnConvolutionForward;
import static org.bytedeco.cuda.global.cudnn.cudnnCreate;
import static org.bytedeco.cuda.global.cudnn.cudnnCreateConvolutionDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnCreateFilterDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnCreateTensorDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnDestroy;
import static org.bytedeco.cuda.global.cudnn.cudnnDestroyConvolutionDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnDestroyFilterDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnDestroyTensorDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnFindConvolutionBackwardDataAlgorithm;
import static org.bytedeco.cuda.global.cudnn.cudnnFindConvolutionBackwardFilterAlgorithm;
import static org.bytedeco.cuda.global.cudnn.cudnnFindConvolutionForwardAlgorithm;
import static org.bytedeco.cuda.global.cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize;
import static org.bytedeco.cuda.global.cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize;
import static org.bytedeco.cuda.global.cudnn.cudnnGetConvolutionForwardWorkspaceSize;
import static org.bytedeco.cuda.global.cudnn.cudnnGetVersion;
import static org.bytedeco.cuda.global.cudnn.cudnnSetConvolution2dDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnSetConvolutionMathType;
import static org.bytedeco.cuda.global.cudnn.cudnnSetFilter4dDescriptor;
import static org.bytedeco.cuda.global.cudnn.cudnnSetStream;
import static org.bytedeco.cuda.global.cudnn.cudnnSetTensor4dDescriptor;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdFilterAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.device.ConvAlgorithm;
import dev.phalanx.kernels.device.ConvDirection;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.DeviceException;
import dev.phalanx.kernels.device.DeviceOutOfMemoryError;
import dev.phalanx.kernels.device.Event;
import dev.phalanx.kernels.device.Graph;
import dev.phalanx.kernels.device.HostBuffer;
import dev.phalanx.kernels.device.KernelArgs;
import dev.phalanx.kernels.device.KernelCatalog;
import dev.phalanx.kernels.device.KernelSignature;
import dev.phalanx.kernels.device.LaunchConfig;
import dev.phalanx.kernels.device.MemoryInfo;
import dev.phalanx.kernels.device.Stream;

/**
 * One NVIDIA GPU through the JavaCPP CUDA presets: memory and copies, streams, events and graphs
 * through the CUDA runtime; GEMM through cuBLAS (FP32, TF32 off unless {@link #allowTf32}); the
 * convolutions through cuDNN's legacy API with the algorithm found once per shape; Phalanx's own
 * kernels compiled by NVRTC for this GPU's architecture and launched with {@code cuLaunchKernel}.
 *
 * <p>The CUDA runtime's current device is per thread, so every call first makes this device
 * current on the calling thread. Each stream has its own cuBLAS and cuDNN handles (a handle must
 * not be used by two threads at once, and replicas run on their own threads), and its own cuBLAS
 * workspace, so that a GEMM can be captured into a graph. Calls only runtime functions that the
 * CUDA 13.0 runtime has (see {@code CudaFunctionsTest}): the presets are built for 13.1.
 */
public final class CudaDevice implements DeviceApi {

    /** cuBLAS workspace per stream (what cuBLAS recommends for Hopper); set explicitly so GEMMs can be captured. */
    static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
    /** cuDNN's find returns at most this many candidates per call. */
    static final int FIND_CANDIDATES = 8;

    /** Compiled once per architecture per process, and kept on disk between processes ({@link KernelDiskCache}). */
    private static final KernelBinaryCache BINARIES = new KernelBinaryCache(KernelCatalog.standard(),
            KernelDiskCache.fromEnvironment(new NvrtcCompiler(KernelCatalog.standard()), NvrtcCompiler::identity));

    private final int index;
    private final String name;
    private final String arch;
    private volatile boolean tf32;
    private final Map<Long, Pointer> pinned = new ConcurrentHashMap<>();
    private final Map<ConvGeometry, ConvDescriptors> descriptors = new ConcurrentHashMap<>();
    private final Map<String, CUfunc_st> functions = new ConcurrentHashMap<>();
    private final Map<Integer, CudaStream> streams = new ConcurrentHashMap<>();
    private final AtomicInteger nextStreamId = new AtomicInteger();
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    private CUmod_st module;
    private CudaStream searchStream;
    private volatile boolean closed;

    private CudaDevice(int index, String arch) {
        this.index = index;
        this.name = "cuda:" + index;
        this.arch = arch;
    }

    /** Opens GPU {@code index}, or says in one line why it cannot ({@link CudaUnavailableException}). */
    public static CudaDevice open(int index) {
        CudaProbe.Report probe = CudaProbe.probe();
        if (!probe.available()) throw new CudaUnavailableException(probe.reason());
        if (index < 0 || index >= probe.gpus().size()) {
            throw new CudaUnavailableException("cuda:" + index + " does not exist: this machine has " + probe.gpus().size() + " GPU(s)");
        }
        int[] driver = new int[1], runtime = new int[1];
        cudaDriverGetVersion(driver);
        cudaRuntimeGetVersion(runtime);
        long cudnnVersion;
        try {
            Loader.load(org.bytedeco.cuda.global.cudnn.class);
            Loader.load(org.bytedeco.cuda.global.cublas.class);
            cudnnVersion = cudnnGetVersion();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            throw new CudaUnavailableException("cuBLAS 13 or cuDNN 9 did not load (" + e.getMessage() + "); install pip's nvidia-cublas and "
                    + "nvidia-cudnn-cu13, or put their lib folders on LD_LIBRARY_PATH");
        }
        CudaVersions.problem(driver[0], runtime[0], cudnnVersion).ifPresent(p -> {
            throw new CudaUnavailableException(p);
        });
        CudaErrors.runtime(cudaSetDevice(index), "cudaSetDevice", "cuda:" + index);
        CudaErrors.runtime(cudaFree(new Pointer()), "cudaFree(NULL) (creating the context)", "cuda:" + index);
        int[] major = new int[1], minor = new int[1];
        CudaErrors.runtime(cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, index), "cudaDeviceGetAttribute");
        CudaErrors.runtime(cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, index), "cudaDeviceGetAttribute");
        CudaVersions.architectureProblem("cuda:" + index, probe.gpus().get(index).name(), major[0], minor[0]).ifPresent(p -> {
            throw new CudaUnavailableException(p);
        });
        return new CudaDevice(index, KernelBinaryCache.arch(major[0], minor[0]));
    }

    /** How many GPUs the driver reports, 0 when there is no usable CUDA. */
    public static int deviceCount() {
        CudaProbe.Report probe = CudaProbe.probe();
        if (!probe.available()) return 0;
        int[] n = new int[1];
        return cudaGetDeviceCount(n) == 0 ? n[0] : 0;
    }

    /** Lets cuBLAS and cuDNN use TF32 tensor cores for FP32 (faster, about 1e-3 relative), as PyTorch's {@code allow_tf32}. Off by default. */
    public void allowTf32(boolean on) {
        tf32 = on;
        for (CudaStream s : streams.values()) {
            bind();
            CudaErrors.cublas(cublasSetMathMode(s.cublas, mathMode()), "cublasSetMathMode", name);
        }
        for (ConvDescriptors d : descriptors.values()) d.setMath(convMath());
    }

    public boolean tf32() {
        return tf32;
    }

    /** {@code sm_XY} of this GPU. */
    public String arch() {
        return arch;
    }

    /**
     * cuBLAS's math mode. The default mode computes FP32 GEMMs in FP32 (TF32 has fewer mantissa
     * bits than asked for, so it needs the explicit TF32 mode); it is what PyTorch uses with
     * {@code allow_tf32} off. The pedantic mode would also rule out cuBLAS's faster FP32 kernels.
     */
    private int mathMode() {
        return tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    }

    private int convMath() {
        return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    }

    /** Makes this GPU current on the calling thread (cudaSetDevice). */
    void bind() {
        if (closed) throw new IllegalStateException(name + " is closed");
        CudaErrors.runtime(cudaSetDevice(index), "cudaSetDevice", name);
    }

    /** A pointer object at a device or host address, owning nothing. */
    static Pointer at(long addressValue) {
        return new Pointer() {
            {
                address = addressValue;
            }
        };
    }

    private static Pointer at(DeviceBuffer b) {
        return at(CudaLaunchArgs.address(b));
    }

    private static FloatPointer floats(DeviceBuffer b) {
        return new FloatPointer(at(b));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MemoryInfo memoryInfo() {
        bind();
        SizeTPointer free = new SizeTPointer(1), total = new SizeTPointer(1);
        CudaErrors.runtime(cudaMemGetInfo(free, total), "cudaMemGetInfo", name);
        return new MemoryInfo(free.get(), total.get());
    }

    // ---- memory

    @Override
    public DeviceBuffer malloc(long bytes) {
        bind();
        Pointer p = new Pointer();
        int status = cudaMalloc(p, bytes);
        if (status == cudaErrorMemoryAllocation) {
            cudaGetLastError(); // clears the error so later calls do not report it
            MemoryInfo m = memoryInfo();
            throw new DeviceOutOfMemoryError(name, bytes, m.freeBytes(), m.totalBytes(), 0, 0);
        }
        CudaErrors.runtime(status, "cudaMalloc", bytes + " bytes on " + name);
        return DeviceBuffer.of(this, p.address(), bytes);
    }

    @Override
    public void free(DeviceBuffer buffer) {
        buffer.checkOn(this);
        bind();
        CudaErrors.runtime(cudaFree(at(buffer.handle())), "cudaFree", buffer.toString());
    }

    @Override
    public HostBuffer mallocHost(long bytes) {
        bind();
        Pointer p = new Pointer();
        CudaErrors.runtime(cudaMallocHost(p, bytes), "cudaMallocHost", bytes + " bytes");
        p.capacity(bytes);
        p.limit(bytes);
        ByteBuffer view = p.asByteBuffer();
        pinned.put(p.address(), p);
        return new HostBuffer(this, p.address(), view);
    }

    @Override
    public void freeHost(HostBuffer buffer) {
        Pointer p = pinned.remove(buffer.handle());
        if (p == null) throw new IllegalStateException(name + ": double free of a pinned host buffer");
        CudaErrors.runtime(cudaFreeHost(p), "cudaFreeHost");
    }

    // ---- copies

    private static void checkHost(HostBuffer h, long offset, long bytes) {
        if (offset < 0 || offset + bytes > h.bytes()) {
            throw new IndexOutOfBoundsException("bytes [" + offset + ", " + (offset + bytes) + ") of a " + h.bytes() + "-byte pinned buffer");
        }
    }

    private static void checkRange(DeviceBuffer b, long bytes) {
        if (bytes > b.bytes()) throw new IndexOutOfBoundsException(bytes + " bytes do not fit " + b);
    }

    @Override
    public void copyHostToDevice(HostBuffer src, long srcOffset, DeviceBuffer dst, long bytes, Stream stream) {
        CudaStream s = stream(stream);
        checkHost(src, srcOffset, bytes);
        checkRange(dst.checkOn(this), bytes);
        bind();
        CudaErrors.runtime(cudaMemcpyAsync(at(dst), at(src.handle() + srcOffset), bytes, cudaMemcpyHostToDevice, s.stream),
                "cudaMemcpyAsync(host to device)", bytes + " bytes to " + dst);
        s.enqueued();
    }

    @Override
    public void copyDeviceToHost(DeviceBuffer src, HostBuffer dst, long dstOffset, long bytes, Stream stream) {
        CudaStream s = stream(stream);
        checkHost(dst, dstOffset, bytes);
        checkRange(src.checkOn(this), bytes);
        bind();
        CudaErrors.runtime(cudaMemcpyAsync(at(dst.handle() + dstOffset), at(src), bytes, cudaMemcpyDeviceToHost, s.stream),
                "cudaMemcpyAsync(device to host)", bytes + " bytes from " + src);
        s.enqueued();
    }

    @Override
    public void copyDeviceToDevice(DeviceBuffer src, DeviceBuffer dst, long bytes, Stream stream) {
        CudaStream s = stream(stream);
        checkRange(src.checkOn(this), bytes);
        checkRange(dst.checkOn(this), bytes);
        bind();
        CudaErrors.runtime(cudaMemcpyAsync(at(dst), at(src), bytes, cudaMemcpyDeviceToDevice, s.stream),
                "cudaMemcpyAsync(device to device)", bytes + " bytes from " + src + " to " + dst);
        s.enqueued();
    }

    @Override
    public void fillZero(DeviceBuffer buffer, Stream stream) {
        CudaStream s = stream(stream);
        buffer.checkOn(this);
        bind();
        CudaErrors.runtime(cudaMemsetAsync(at(buffer), 0, buffer.bytes(), s.stream), "cudaMemsetAsync", buffer.toString());
        s.enqueued();
    }

    // ---- kernels

    private synchronized CUmod_st module() {
        if (module == null) {
            byte[] image = BINARIES.binary(arch);
            CUmod_st m = new CUmod_st();
            try (BytePointer loaded = new BytePointer(image)) { // the driver copies the image
                CudaErrors.driver(cuModuleLoadData(m, loaded), "cuModuleLoadData", "Phalanx's kernels for " + arch + " on " + name);
            }
            module = m;
        }
        return module;
    }

    private CUfunc_st function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUmod_st m = module();
            CUfunc_st f = new CUfunc_st();
            CudaErrors.driver(cuModuleGetFunction(f, m, k), "cuModuleGetFunction", "kernel " + k);
            return f;
        });
    }

    @Override
    public void launch(Stream stream, String kernel, LaunchConfig c, KernelArgs args) {
        KernelSignature sig = KernelCatalog.standard().signature(kernel);
        sig.check(args);
        for (KernelArgs.Arg a : args.list()) if (a instanceof KernelArgs.Ptr p) p.buffer().checkOn(this);
        CudaStream s = stream(stream);
        bind();
        CUfunc_st f = function(kernel);
        try (CudaLaunchArgs packed = new CudaLaunchArgs(args)) {
            CudaErrors.driver(cuLaunchKernel(f, c.gridX(), c.gridY(), c.gridZ(), c.blockX(), c.blockY(), c.blockZ(), c.sharedBytes(), s.stream,
                    packed.params(), (PointerPointer<?>) null), "cuLaunchKernel", kernel + " " + c + " " + args);
        }
        s.enqueued();
    }

    // ---- cuBLAS

    @Override
    public void gemm(Stream stream, boolean transA, boolean transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b,
                     float beta, DeviceBuffer c) {
        CudaStream s = stream(stream);
        checkRange(a.checkOn(this), 4L * m * k);
        checkRange(b.checkOn(this), 4L * k * n);
        checkRange(c.checkOn(this), 4L * m * n);
        bind();
        CublasGemmArgs g = CublasGemmArgs.of(transA, transB, m, n, k); // B first: see CublasGemmArgs
        try (FloatPointer al = new FloatPointer(alpha); FloatPointer be = new FloatPointer(beta)) {
            CudaErrors.cublas(cublasSgemm_v2(s.cublas, g.transFirst() ? CUBLAS_OP_T : CUBLAS_OP_N, g.transSecond() ? CUBLAS_OP_T : CUBLAS_OP_N,
                    g.m(), g.n(), g.k(), al, floats(b), g.ldFirst(), floats(a), g.ldSecond(), be, floats(c), g.ldc()), "cublasSgemm_v2",
                    "C[" + m + "x" + n + "] = " + (transA ? "A^T" : "A") + "[" + m + "x" + k + "] " + (transB ? "B^T" : "B") + "[" + k + "x" + n + "]");
        }
        s.enqueued();
    }

    // ---- cuDNN

    /** The four descriptors of one convolution shape, made once. */
    private final class ConvDescriptors {
        final cudnnTensorStruct x = new cudnnTensorStruct(), y = new cudnnTensorStruct();
        final cudnnFilterStruct w = new cudnnFilterStruct();
        final cudnnConvolutionStruct conv = new cudnnConvolutionStruct();
        final String shapes;

        ConvDescriptors(ConvGeometry g) {
            shapes = "conv2d input [" + g.n() + ", " + g.cin() + ", " + g.h() + ", " + g.w() + "] weight [" + g.cout() + ", " + g.cin() + ", " + g.kh()
                    + ", " + g.kw() + "] stride (" + g.sh() + ", " + g.sw() + ") padding (" + g.ph() + ", " + g.pw() + ") on " + name;
            CudaErrors.cudnn(cudnnCreateTensorDescriptor(x), "cudnnCreateTensorDescriptor", shapes);
            CudaErrors.cudnn(cudnnCreateTensorDescriptor(y), "cudnnCreateTensorDescriptor", shapes);
            CudaErrors.cudnn(cudnnCreateFilterDescriptor(w), "cudnnCreateFilterDescriptor", shapes);
            CudaErrors.cudnn(cudnnCreateConvolutionDescriptor(conv), "cudnnCreateConvolutionDescriptor", shapes);
            CudaErrors.cudnn(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.cin(), g.h(), g.w()), "cudnnSetTensor4dDescriptor", shapes);
            CudaErrors.cudnn(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.cout(), g.oh(), g.ow()), "cudnnSetTensor4dDescriptor", shapes);
            CudaErrors.cudnn(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.cout(), g.cin(), g.kh(), g.kw()), "cudnnSetFilter4dDescriptor", shapes);
            CudaErrors.cudnn(cudnnSetConvolution2dDescriptor(conv, g.ph(), g.pw(), g.sh(), g.sw(), 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                    "cudnnSetConvolution2dDescriptor", shapes);
            setMath(convMath());
        }

        void setMath(int math) {
            CudaErrors.cudnn(cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType", shapes);
        }

        void destroy() {
            cudnnDestroyConvolutionDescriptor(conv);
            cudnnDestroyFilterDescriptor(w);
            cudnnDestroyTensorDescriptor(y);
            cudnnDestroyTensorDescriptor(x);
        }
    }

    private ConvDescriptors descriptors(ConvGeometry g) {
        return descriptors.computeIfAbsent(g, ConvDescriptors::new);
    }

    /**
     * Searches run on a stream of their own, one at a time: they synchronise their stream, and a
     * cuDNN handle must not be used by two threads at once (a replica's stream is its thread's).
     */
    @Override
    public synchronized ConvAlgorithm findConvAlgorithm(ConvDirection direction, ConvGeometry g) {
        bind();
        ConvDescriptors d = descriptors(g);
        if (searchStream == null) searchStream = new CudaStream(-1);
        CudaStream s = searchStream;
        int math = convMath();
        IntPointer returned = new IntPointer(1);
        SizeTPointer ws = new SizeTPointer(1);
        switch (direction) {
            case FORWARD -> {
                cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(FIND_CANDIDATES);
                CudaErrors.cudnn(cudnnFindConvolutionForwardAlgorithm(s.cudnn, d.x, d.w, d.conv, d.y, FIND_CANDIDATES, returned, perf),
                        "cudnnFindConvolutionForwardAlgorithm", d.shapes);
                for (int i = 0; i < returned.get(); i++) {
                    cudnnConvolutionFwdAlgoPerf_t p = perf.getPointer(i);
                    if (!usable(p.status(), p.determinism(), p.mathType(), math)) continue;
                    CudaErrors.cudnn(cudnnGetConvolutionForwardWorkspaceSize(s.cudnn, d.x, d.w, d.conv, d.y, p.algo(), ws),
                            "cudnnGetConvolutionForwardWorkspaceSize", d.shapes);
                    return new ConvAlgorithm(direction, p.algo(), "cudnn forward algorithm " + p.algo(), Math.max(ws.get(), p.memory()));
                }
            }
            case BACKWARD_DATA -> {
                cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(FIND_CANDIDATES);
                CudaErrors.cudnn(cudnnFindConvolutionBackwardDataAlgorithm(s.cudnn, d.w, d.y, d.conv, d.x, FIND_CANDIDATES, returned, perf),
                        "cudnnFindConvolutionBackwardDataAlgorithm", d.shapes);
                for (int i = 0; i < returned.get(); i++) {
                    cudnnConvolutionBwdDataAlgoPerf_t p = perf.getPointer(i);
                    if (!usable(p.status(), p.determinism(), p.mathType(), math)) continue;
                    CudaErrors.cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(s.cudnn, d.w, d.y, d.conv, d.x, p.algo(), ws),
                            "cudnnGetConvolutionBackwardDataWorkspaceSize", d.shapes);
                    return new ConvAlgorithm(direction, p.algo(), "cudnn backward-data algorithm " + p.algo(), Math.max(ws.get(), p.memory()));
                }
            }
            case BACKWARD_FILTER -> {
                cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(FIND_CANDIDATES);
                CudaErrors.cudnn(cudnnFindConvolutionBackwardFilterAlgorithm(s.cudnn, d.x, d.y, d.conv, d.w, FIND_CANDIDATES, returned, perf),
                        "cudnnFindConvolutionBackwardFilterAlgorithm", d.shapes);
                for (int i = 0; i < returned.get(); i++) {
                    cudnnConvolutionBwdFilterAlgoPerf_t p = perf.getPointer(i);
                    if (!usable(p.status(), p.determinism(), p.mathType(), math)) continue;
                    CudaErrors.cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(s.cudnn, d.x, d.y, d.conv, d.w, p.algo(), ws),
                            "cudnnGetConvolutionBackwardFilterWorkspaceSize", d.shapes);
                    return new ConvAlgorithm(direction, p.algo(), "cudnn backward-filter algorithm " + p.algo(), Math.max(ws.get(), p.memory()));
                }
            }
        }
        throw new DeviceException("cuDNN found no usable " + direction.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-')
                + " algorithm (of " + returned.get() + " tried, deterministic" + (tf32 ? "" : " and without TF32") + ") for " + d.shapes);
    }

    /**
     * Whether cuDNN's find result can be used: it ran; it is deterministic (cuDNN's ALGO_0 and
     * ALGO_3 of the backward passes add with atomics in any order, which would break "a captured
     * step replayed gives the eager step's bits" and the replicas' bitwise equality; the results
     * come fastest first, so this costs only where a non-deterministic one was fastest); and
     * with TF32 off, no tensor-op algorithm (the descriptor's FMA math type rules the call anyway).
     */
    static boolean usable(int status, int determinism, int algorithmMath, int wanted) {
        return status == CUDNN_STATUS_SUCCESS && determinism == CUDNN_DETERMINISTIC
                && (wanted == CUDNN_DEFAULT_MATH || (algorithmMath != CUDNN_TENSOR_OP_MATH && algorithmMath != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
    }

    private static Pointer workspace(ConvAlgorithm a, DeviceBuffer ws) {
        if (a.workspaceBytes() == 0) return new Pointer();
        if (ws == null || ws.bytes() < a.workspaceBytes()) {
            throw new IllegalArgumentException(a.name() + " needs a workspace of " + a.workspaceBytes() + " bytes, got " + (ws == null ? "none" : ws.bytes()));
        }
        return at(ws);
    }

    @Override
    public void convForward(Stream stream, ConvGeometry g, ConvAlgorithm algo, DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, DeviceBuffer ws) {
        CudaStream s = stream(stream);
        ConvDescriptors d = descriptors(g);
        bind();
        CudaErrors.cudnn(cudnnConvolutionForward(s.cudnn, one, d.x, at(x.checkOn(this)), d.w, at(w.checkOn(this)), d.conv, algo.id(), workspace(algo, ws),
                algo.workspaceBytes(), zero, d.y, at(y.checkOn(this))), "cudnnConvolutionForward", d.shapes + " with " + algo.name());
        s.enqueued();
    }

    @Override
    public void convBackwardData(Stream stream, ConvGeometry g, ConvAlgorithm algo, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx,
                                 DeviceBuffer ws) {
        CudaStream s = stream(stream);
        ConvDescriptors d = descriptors(g);
        bind();
        CudaErrors.cudnn(cudnnConvolutionBackwardData(s.cudnn, one, d.w, at(w.checkOn(this)), d.y, at(dy.checkOn(this)), d.conv, algo.id(),
                workspace(algo, ws), algo.workspaceBytes(), zero, d.x, at(dx.checkOn(this))), "cudnnConvolutionBackwardData", d.shapes + " with " + algo.name());
        s.enqueued();
    }

    @Override
    public void convBackwardFilter(Stream stream, ConvGeometry g, ConvAlgorithm algo, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw,
                                   DeviceBuffer ws) {
        CudaStream s = stream(stream);
        ConvDescriptors d = descriptors(g);
        bind();
        CudaErrors.cudnn(cudnnConvolutionBackwardFilter(s.cudnn, one, d.x, at(x.checkOn(this)), d.y, at(dy.checkOn(this)), d.conv, algo.id(),
                workspace(algo, ws), algo.workspaceBytes(), zero, d.w, at(dw.checkOn(this))), "cudnnConvolutionBackwardFilter",
                d.shapes + " with " + algo.name());
        s.enqueued();
    }

    // ---- streams, events, graphs

    private final class CudaStream implements Stream {
        final int id;
        final CUstream_st stream = new CUstream_st();
        final cublasContext cublas = new cublasContext();
        final cudnnContext cudnn = new cudnnContext();
        final Pointer cublasWorkspace = new Pointer();
        /** The capture this stream began or joined, or null: kept in Java, so {@link #isCapturing} needs no native call. */
        volatile CudaCapture capture;

        CudaStream(int id) {
            this.id = id;
            CudaErrors.runtime(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", name);
            CudaErrors.cublas(cublasCreate_v2(cublas), "cublasCreate_v2", name);
            CudaErrors.cublas(cublasSetStream_v2(cublas, stream), "cublasSetStream_v2", name);
            CudaErrors.cublas(cublasSetMathMode(cublas, mathMode()), "cublasSetMathMode", name);
            CudaErrors.runtime(cudaMalloc(cublasWorkspace, CUBLAS_WORKSPACE_BYTES), "cudaMalloc", "the cuBLAS workspace on " + name);
            CudaErrors.cublas(cublasSetWorkspace_v2(cublas, cublasWorkspace, CUBLAS_WORKSPACE_BYTES), "cublasSetWorkspace_v2", name);
            CudaErrors.cudnn(cudnnCreate(cudnn), "cudnnCreate", name);
            CudaErrors.cudnn(cudnnSetStream(cudnn, stream), "cudnnSetStream", name);
        }

        void enqueued() {
            CudaCapture c = capture;
            if (c != null) c.operations.incrementAndGet();
        }

        @Override
        public DeviceApi device() {
            return CudaDevice.this;
        }

        @Override
        public int id() {
            return id;
        }

        @Override
        public void close() {
            if (streams.remove(id) == null && id >= 0) return;
            bind();
            cudaStreamSynchronize(stream);
            cudnnDestroy(cudnn);
            cublasDestroy_v2(cublas);
            cudaFree(cublasWorkspace);
            cudaStreamDestroy(stream);
        }

        @Override
        public String toString() {
            return name + " stream " + id;
        }
    }

    private CudaStream stream(Stream stream) {
        if (!(stream instanceof CudaStream s) || s.device() != this) throw new IllegalArgumentException("stream " + stream + " does not belong to " + name);
        return s;
    }

    @Override
    public Stream newStream() {
        bind();
        int id = nextStreamId.getAndIncrement();
        CudaStream s = new CudaStream(id);
        streams.put(id, s);
        return s;
    }

    /**
     * One capture, as Java sees it: its origin stream and the streams that joined it by waiting for
     * an event recorded inside it (CUDA's fork; CUDA itself checks the join back at
     * {@code cudaStreamEndCapture}, {@code cudaErrorStreamCaptureUnjoined}).
     */
    private static final class CudaCapture {
        final CudaStream origin;
        final java.util.Set<CudaStream> members = java.util.concurrent.ConcurrentHashMap.newKeySet();
        final java.util.concurrent.atomic.AtomicInteger operations = new java.util.concurrent.atomic.AtomicInteger();
        volatile boolean ended;

        CudaCapture(CudaStream origin) {
            this.origin = origin;
            members.add(origin);
        }
    }

    private final class CudaEvent implements Event {
        final CUevent_st event = new CUevent_st();
        /** The capture it was last recorded in, or null when last recorded eagerly. */
        volatile CudaCapture recordedIn;
        /** Made with timing ({@link #newTimingEvent}): only such events have an elapsed time. */
        final boolean timing;
        boolean closed;

        CudaEvent(boolean timing) {
            this.timing = timing;
            CudaErrors.runtime(cudaEventCreateWithFlags(event, timing ? cudaEventDefault : cudaEventDisableTiming), "cudaEventCreateWithFlags", name);
        }

        @Override
        public DeviceApi device() {
            return CudaDevice.this;
        }

        @Override
        public synchronized void close() {
            if (closed) return;
            closed = true;
            cudaEventDestroy(event);
        }
    }

    private CudaEvent event(Event e) {
        if (!(e instanceof CudaEvent c) || c.device() != this) throw new IllegalArgumentException("event " + e + " does not belong to " + name);
        return c;
    }

    @Override
    public Event newEvent() {
        bind();
        return new CudaEvent(false);
    }

    @Override
    public Event newTimingEvent() {
        bind();
        return new CudaEvent(true);
    }

    @Override
    public float elapsedMillis(Event start, Event end) {
        CudaEvent a = event(start), b = event(end);
        DeviceApi.requireTimingEvents(name, a.timing, b.timing);
        bind();
        float[] ms = new float[1];
        CudaErrors.runtime(cudaEventElapsedTime(ms, a.event, b.event), "cudaEventElapsedTime (both events recorded and complete?)", name);
        return ms[0];
    }

    @Override
    public void record(Event event, Stream stream) {
        CudaStream s = stream(stream);
        bind();
        CudaEvent e = event(event);
        CudaErrors.runtime(cudaEventRecord(e.event, s.stream), "cudaEventRecord", s.toString());
        e.recordedIn = s.capture;
        s.enqueued();
    }

    @Override
    public void waitEvent(Stream stream, Event event) {
        CudaStream s = stream(stream);
        bind();
        CudaEvent e = event(event);
        CudaErrors.runtime(cudaStreamWaitEvent(s.stream, e.event, 0), "cudaStreamWaitEvent", s.toString());
        CudaCapture c = e.recordedIn;
        if (c != null && !c.ended && s.capture == null) { // the fork: CUDA has joined s to the capture
            c.members.add(s);
            s.capture = c;
        }
        s.enqueued();
    }

    @Override
    public void synchronize(Stream stream) {
        CudaStream s = stream(stream);
        bind();
        CudaErrors.runtime(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize (an error of earlier asynchronous work on this stream)", s.toString());
    }

    @Override
    public void synchronize(Event event) {
        bind();
        CudaErrors.runtime(cudaEventSynchronize(event(event).event), "cudaEventSynchronize", name);
    }

    @Override
    public boolean isComplete(Event event) {
        bind();
        int status = cudaEventQuery(event(event).event);
        if (status == cudaErrorNotReady) return false;
        CudaErrors.runtime(status, "cudaEventQuery", name);
        return true;
    }

    private final class CudaGraph implements Graph {
        final CUgraph_st graph;
        final CUgraphExec_st exec;
        final int operations;
        boolean closed;

        CudaGraph(CUgraph_st graph, CUgraphExec_st exec, int operations) {
            this.graph = graph;
            this.exec = exec;
            this.operations = operations;
        }

        @Override
        public DeviceApi device() {
            return CudaDevice.this;
        }

        @Override
        public int operations() {
            return operations;
        }

        @Override
        public synchronized void close() {
            if (closed) return;
            closed = true;
            cudaGraphExecDestroy(exec);
            cudaGraphDestroy(graph);
        }
    }

    /**
     * Thread-local mode: only this thread is barred from unsafe calls (cudaMalloc, synchronisation)
     * while it captures; other threads may enqueue into streams that joined the capture (the
     * replicas of a data-parallel step, each from its own thread), and the thread that began the
     * capture ends it, as this mode requires.
     */
    @Override
    public void beginCapture(Stream stream) {
        CudaStream s = stream(stream);
        bind();
        if (s.capture != null) throw new IllegalStateException(name + ": " + s + " already captures a graph");
        CudaErrors.runtime(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture", s.toString());
        s.capture = new CudaCapture(s);
    }

    /** Kept in Java (a stream that began or joined a capture): no native call, so nothing to bind on CUDA 13.0. */
    @Override
    public boolean isCapturing(Stream stream) {
        return stream(stream).capture != null;
    }

    /**
     * Ends the capture on its origin stream; every stream that joined it leaves it too, whether
     * CUDA accepts the capture or fails it ({@code cudaErrorStreamCaptureUnjoined}: a forked
     * stream not joined back).
     */
    @Override
    public Graph endCapture(Stream stream) {
        CudaStream s = stream(stream);
        bind();
        CudaCapture c = s.capture;
        if (c == null) throw new IllegalStateException(name + ": endCapture on " + s + ", which does not capture");
        if (c.origin != s) {
            throw new IllegalStateException(name + ": endCapture on " + s + ", which joined a capture begun on " + c.origin
                    + " (cudaErrorStreamCaptureUnmatched); end it on its origin stream");
        }
        CUgraph_st graph = new CUgraph_st();
        int ops = c.operations.get();
        c.ended = true;
        for (CudaStream m : c.members) m.capture = null;
        CudaErrors.runtime(cudaStreamEndCapture(s.stream, graph), "cudaStreamEndCapture",
                s + (c.members.size() > 1 ? " (a capture across " + c.members.size() + " streams)" : ""));
        CUgraphExec_st exec = new CUgraphExec_st();
        CudaErrors.runtime(cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate", ops + " captured operations on " + s);
        return new CudaGraph(graph, exec, ops);
    }

    @Override
    public void replay(Graph graph, Stream stream) {
        if (!(graph instanceof CudaGraph g) || g.device() != this) throw new IllegalArgumentException("graph " + graph + " does not belong to " + name);
        CudaStream s = stream(stream);
        bind();
        CudaErrors.runtime(cudaGraphLaunch(g.exec, s.stream), "cudaGraphLaunch", s.toString());
    }

    /** The CUstream of a stream of this device, for NCCL. */
    CUstream_st nativeStream(Stream stream) {
        return stream(stream).stream;
    }

    int index() {
        return index;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        for (CudaStream s : streams.values()) s.close();
        if (searchStream != null) searchStream.close();
        if (module != null) cuModuleUnload(module);
        for (ConvDescriptors d : descriptors.values()) d.destroy();
        descriptors.clear();
        for (Pointer p : pinned.values()) cudaFreeHost(p);
        pinned.clear();
        one.close();
        zero.close();
        closed = true;
    }

    @Override
    public String toString() {
        return name + " (" + arch + ")";
    }
}
