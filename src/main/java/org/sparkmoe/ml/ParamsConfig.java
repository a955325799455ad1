package org.sparkmoe.ml;

import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.sparkmoe.app.MoEConfig;
import org.sparkmoe.app.Setting;
import org.sparkmoe.app.Settings;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.engine.EngineConfig;

/**
 * The estimators' and models' params as the typed configuration of the application layer
 * ({@link MoEConfig}): its one validate (messages name the params), the network spec, the engine
 * configuration.
 */
final class ParamsConfig {
    private ParamsConfig() {
    }

    /**
     * The typed configuration of these params ({@link MoEConfig}: every param that is also a
     * setting of the job, as set or defaulted here), checked between params; messages name the params.
     */
    static MoEConfig config(Params p) {
        MoEConfig.Builder b = MoEConfig.builder().face(Setting.Face.ML);
        for (Param<?> param : p.params()) {
            Setting s = Settings.find(param.name());
            if (s != null && s.jobKey() != null && p.isDefined(param)) b.set(s, p.getOrDefault(param));
        }
        return b.build();
    }

    static NetworkSpec spec(MoEParams<?> p, NetworkSpec.Task task, int inputDim, int outputs) {
        return config(p).networkSpec(task, inputDim, outputs);
    }

    static EngineConfig engineConfig(MoEParams<?> p) {
        return config(p).engineConfig();
    }

    static NetworkSpec spec(MoELanguageModelParams<?> p, int vocabulary) {
        return config(p).networkSpec(NetworkSpec.Task.LANGUAGE_MODEL, vocabulary, vocabulary);
    }
}
