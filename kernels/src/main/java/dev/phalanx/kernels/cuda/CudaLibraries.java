package dev.phalanx.kernels.cuda;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * Where the CUDA libraries are on this machine. The JavaCPP presets load them by soname, so
 * their folders must be known before the first load: {@code $CUDA_HOME/lib64},
 * {@code /usr/local/cuda/lib64}, the {@code nvidia/<package>/lib} folders of any Python
 * site-packages (where pip puts them for PyTorch), {@code LD_LIBRARY_PATH}, the system's folder and
 * {@code /usr/local/nvidia/lib64} (the driver, as container images mount it).
 */
public final class CudaLibraries {

    /** The sonames Phalanx needs, by what they are. */
    public static final Map<String, String> SONAMES = Map.of(
            "driver", "libcuda.so.1",
            "runtime", "libcudart.so.13",
            "cuBLAS", "libcublas.so.13",
            "cuDNN", "libcudnn.so.9",
            "NCCL", "libnccl.so.2",
            "NVRTC", "libnvrtc.so.13");

    private CudaLibraries() { }

    /** Candidate folders, in search order, that exist. */
    public static List<Path> searchPath() {
        LinkedHashSet<Path> dirs = new LinkedHashSet<>();
        String cudaHome = System.getenv("CUDA_HOME");
        if (cudaHome != null && !cudaHome.isBlank()) dirs.add(Path.of(cudaHome, "lib64"));
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        for (Path site : pythonSitePackages()) {
            Path nvidia = site.resolve("nvidia");
            if (!Files.isDirectory(nvidia)) continue;
            try (DirectoryStream<Path> pkgs = Files.newDirectoryStream(nvidia)) {
                for (Path pkg : pkgs) if (Files.isDirectory(pkg.resolve("lib"))) dirs.add(pkg.resolve("lib"));
            } catch (IOException e) {
                // unreadable: skip it
            }
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) for (String d : ld.split(":")) if (!d.isBlank()) dirs.add(Path.of(d));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/local/nvidia/lib64")); // where NVIDIA's container runtime mounts the driver (the GPU machine's image)
        dirs.add(Path.of("/usr/local/nvidia/lib"));
        List<Path> out = new ArrayList<>();
        for (Path d : dirs) if (Files.isDirectory(d)) out.add(d);
        return out;
    }

    /** site-packages and dist-packages folders of the usual Python installations. */
    static List<Path> pythonSitePackages() {
        List<Path> roots = new ArrayList<>(List.of(Path.of("/usr/lib"), Path.of("/usr/local/lib"), Path.of("/opt/conda/lib")));
        String home = System.getProperty("user.home");
        if (home != null) roots.add(Path.of(home, ".local", "lib"));
        String venv = System.getenv("VIRTUAL_ENV");
        if (venv != null) roots.add(Path.of(venv, "lib"));
        String conda = System.getenv("CONDA_PREFIX");
        if (conda != null) roots.add(Path.of(conda, "lib"));
        List<Path> out = new ArrayList<>();
        for (Path root : roots) {
            if (!Files.isDirectory(root)) continue;
            try (DirectoryStream<Path> pys = Files.newDirectoryStream(root, "python3*")) {
                for (Path py : pys) {
                    for (String kind : new String[] {"site-packages", "dist-packages"}) {
                        if (Files.isDirectory(py.resolve(kind))) out.add(py.resolve(kind));
                    }
                }
            } catch (IOException e) {
                // unreadable: skip it
            }
        }
        return out;
    }

    /**
     * NVRTC's builtins library ({@code libnvrtc-builtins.so.13.0}) in the folder that holds
     * {@code libnvrtc.so.13}, or null. NVRTC opens it by its full version at its first compile;
     * the presets preload {@code libnvrtc-builtins.so.13.1} only (what they were built with), so
     * on a CUDA 13.0 machine nothing loads it unless its folder is on {@code LD_LIBRARY_PATH}.
     * When several versions lie there, the highest.
     */
    public static Path builtinsOfNvrtc(Path nvrtcFolder) {
        if (nvrtcFolder == null || !Files.isDirectory(nvrtcFolder)) return null;
        Path best = null;
        int[] bestVersion = null;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(nvrtcFolder, "libnvrtc-builtins.so." + CudaVersions.CUDA_MAJOR + ".*")) {
            for (Path f : files) {
                String rest = f.getFileName().toString().substring("libnvrtc-builtins.so.".length());
                if (!rest.matches("\\d+\\.\\d+")) continue; // not libnvrtc-builtins.so.13.0.alt or the like
                int[] v = {Integer.parseInt(rest.substring(0, rest.indexOf('.'))), Integer.parseInt(rest.substring(rest.indexOf('.') + 1))};
                if (bestVersion == null || v[1] > bestVersion[1]) {
                    best = f;
                    bestVersion = v;
                }
            }
        } catch (IOException e) {
            return null;
        }
        return best;
    }

    /** For each library, the first folder holding its soname, or null when none does. */
    public static Map<String, Path> locate(List<Path> dirs) {
        Map<String, Path> found = new LinkedHashMap<>();
        for (String lib : List.of("driver", "runtime", "cuBLAS", "cuDNN", "NCCL", "NVRTC")) {
            Path where = null;
            for (Path d : dirs) {
                if (Files.exists(d.resolve(SONAMES.get(lib)))) {
                    where = d;
                    break;
                }
            }
            found.put(lib, where);
        }
        return found;
    }
}
