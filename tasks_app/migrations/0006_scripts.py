# Scripts: the replayable record of a successful dom run, versioned per lineage; tasks that replay them.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tasks_app', '0005_take_control_and_ask_human'),
    ]

    operations = [
        migrations.CreateModel(
            name='Script',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('version', models.PositiveIntegerField()),
                ('document', models.JSONField()),
                ('reason', models.CharField(choices=[('recorded', 'Recorded by a run of the model'), ('repaired', 'Repaired by a replay')], max_length=10)),
                ('healed_steps', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('lineage', models.ForeignKey(help_text='The run that recorded version 1.', on_delete=django.db.models.deletion.CASCADE, related_name='script_versions', to='tasks_app.task')),
                ('made_by_task', models.ForeignKey(blank=True, help_text='The run that made this version.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tasks_app.task')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='scripts', to='tasks_app.organization')),
            ],
            options={
                'ordering': ['lineage', '-version'],
                'constraints': [
                    models.UniqueConstraint(fields=('lineage', 'version'), name='one_script_version_per_lineage'),
                    models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='script_version_positive'),
                ],
            },
        ),
        migrations.AddField(
            model_name='task',
            name='run_with',
            field=models.CharField(choices=[('agent', 'The model'), ('script', 'A recorded script')], default='agent', max_length=10),
        ),
        migrations.AddField(
            model_name='task',
            name='script',
            field=models.ForeignKey(blank=True, help_text='The script version this run replays.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replays', to='tasks_app.script'),
        ),
        migrations.AddField(
            model_name='task',
            name='replay',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='step',
            name='mode',
            field=models.CharField(blank=True, choices=[('', '-'), ('replayed', 'Replayed from the script'), ('model', 'Asked the model')], default='', max_length=10),
        ),
        migrations.AddField(
            model_name='step',
            name='why',
            field=models.TextField(blank=True),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(fields=['organization', 'run_with', '-created_at'], name='task_org_run_with_created'),
        ),
    ]
